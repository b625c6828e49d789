// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Freezing;

namespace Samples
{
    /// <summary>
    /// Evaluates a trained pipeline with ML.NET's multiclass evaluator and prints what Model Builder shows: micro/macro
    /// accuracy, log-loss, per-class precision and recall, and the confusion matrix. Plain aligned text, so that logs
    /// and terminals read the same.
    /// </summary>
    public static class MetricsReport
    {
        /// <summary>The FrozenResNet stage of a fitted pipeline (for its class names, preprocessing and
        /// history).</summary>
        public static FrozenResNetTransformer FindTrainer(ITransformer model)
            => (model as IEnumerable<ITransformer>)?.OfType<FrozenResNetTransformer>().FirstOrDefault()
               ?? model as FrozenResNetTransformer
               ?? throw new InvalidOperationException(
               "The model has no FrozenResNet stage; was it trained by this sample?");

        /// <summary>Scores <paramref name="data"/> (rows of <see cref="ConsumptionExample.ModelInput"/>) and evaluates
        /// it.</summary>
        public static MulticlassClassificationMetrics Evaluate(MLContext ml, ITransformer model, IDataView data)
            => ml.MulticlassClassification.Evaluate(model.Transform(data), labelColumnName: "Label",
                scoreColumnName: "Score");

        /// <summary>"83.5%" (invariant culture, no space before the sign).</summary>
        public static string Percent(double fraction, int decimals = 1)
            => (100 * fraction).ToString("F" + decimals, CultureInfo.InvariantCulture) + "%";

        /// <summary>Prints the metrics; <paramref name="classNames"/> are in key order (the model's).</summary>
        public static void Print(MulticlassClassificationMetrics metrics, IReadOnlyList<string> classNames,
            string title)
        {
            var inv = CultureInfo.InvariantCulture;
            var matrix = metrics.ConfusionMatrix;
            long total = (long)matrix.Counts.Sum(row => row.Sum());
            Console.WriteLine();
            Console.WriteLine($"{title} ({total} images)");
            Console.WriteLine($"  micro accuracy     {Percent(metrics.MicroAccuracy, 2)}");
            Console.WriteLine($"  macro accuracy     {Percent(metrics.MacroAccuracy, 2)}");
            Console.WriteLine($"  log-loss           {metrics.LogLoss.ToString("F4", inv)}");
            Console.WriteLine($"  log-loss reduction {metrics.LogLossReduction.ToString("F4", inv)}");

            int k = matrix.NumberOfClasses;
            var names = Enumerable.Range(0, k).Select(i => i < classNames.Count ? classNames[i] : $"class {i}")
                .ToArray();
            int nameWidth = Math.Max(8, names.Max(n => n.Length));

            Console.WriteLine();
            Console.WriteLine($"  {"class".PadRight(nameWidth)} {"precision",10} {"recall",8} {"F1",8} {"support",8}");
            for (int i = 0; i < k; i++)
            {
                double p = matrix.PerClassPrecision[i], r = matrix.PerClassRecall[i];
                double f1 = p + r > 0 ? 2 * p * r / (p + r) : 0;
                long support = (long)matrix.Counts[i].Sum();
                Console.WriteLine(
                    $"  {names[i].PadRight(nameWidth)} {Percent(p),10} {Percent(r),8} {f1.ToString("F3", inv),8} " +
                    $"{support,8}");
            }

            Console.WriteLine();
            Console.WriteLine("  confusion matrix (rows: true class, columns: predicted)");
            int cell = Math.Max(7,
                Math.Max(names.Max(n => n.Length), matrix.Counts.Max(row => row.Max()).ToString(inv).Length) + 1);
            Console.WriteLine(
                $"  {"".PadRight(nameWidth)} " + string.Concat(names.Select(n => n.PadLeft(cell))) +
                "  recall".PadLeft(cell + 2));
            for (int i = 0; i < k; i++)
            {
                string counts = string.Concat(matrix.Counts[i].Select(c => ((long)c).ToString(inv).PadLeft(cell)));
                Console.WriteLine(
                    $"  {names[i].PadRight(nameWidth)} {counts}{Percent(matrix.PerClassRecall[i]).PadLeft(cell + 2)}");
            }
            Console.WriteLine(
                $"  {"precision".PadRight(nameWidth)} " +
                string.Concat(matrix.PerClassPrecision.Select(p => Percent(p).PadLeft(cell))));
        }
    }
}

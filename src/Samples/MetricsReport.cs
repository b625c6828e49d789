// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Freezing;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Samples
{
    /// <summary>
    /// Evaluates a trained pipeline with ML.NET's multiclass evaluator and prints what Model Builder shows: micro/macro
    /// accuracy, log-loss, per-class precision and recall, and the confusion matrix, as Spectre.Console tables.
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
            var names = Enumerable.Range(0, matrix.NumberOfClasses)
                .Select(i => i < classNames.Count ? classNames[i] : $"class {i}").ToArray();

            var summary = new Grid().AddColumn().AddColumn(new GridColumn().RightAligned());
            summary.AddRow("micro accuracy", Percent(metrics.MicroAccuracy, 2));
            summary.AddRow("macro accuracy", Percent(metrics.MacroAccuracy, 2));
            summary.AddRow("log-loss", metrics.LogLoss.ToString("F4", inv));
            // Relative to the class prior's log-loss, which is 0 when the data holds one class (then ML.NET's value
            // is not finite and means nothing).
            summary.AddRow("log-loss reduction", double.IsFinite(metrics.LogLossReduction)
                ? metrics.LogLossReduction.ToString("F4", inv) : "n/a");

            Console.WriteLine();
            Console.WriteLine($"{title} ({total} images)");
            var console = ReportConsole();
            console.Write(Indented(summary));
            console.Write(Indented(PerClassTable(matrix, names)));
            Console.WriteLine("  confusion matrix (rows: true class, columns: predicted)");
            console.Write(Indented(ConfusionTable(matrix, names)));
        }

        // A redirected output has no width: Spectre would assume 80 columns and wrap the cells of a 10-class matrix.
        private static IAnsiConsole ReportConsole()
        {
            if (!Console.IsOutputRedirected)
                return AnsiConsole.Console;
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
            console.Profile.Width = 240;
            return console;
        }

        private static Table PerClassTable(ConfusionMatrix matrix, string[] names)
        {
            var table = NewTable("class", "precision", "recall", "F1", "support");
            for (int i = 0; i < names.Length; i++)
            {
                double p = matrix.PerClassPrecision[i], r = matrix.PerClassRecall[i];
                double f1 = p + r > 0 ? 2 * p * r / (p + r) : 0;
                table.AddRow(Markup.Escape(names[i]), Percent(p), Percent(r),
                    f1.ToString("F3", CultureInfo.InvariantCulture), Count(matrix.Counts[i].Sum()));
            }
            return table;
        }

        private static Table ConfusionTable(ConfusionMatrix matrix, string[] names)
        {
            var table = NewTable(new[] { "" }.Concat(names.Select(Markup.Escape)).Append("recall").ToArray());
            for (int i = 0; i < names.Length; i++)
            {
                table.AddRow(new[] { Markup.Escape(names[i]) }.Concat(matrix.Counts[i].Select(Count))
                    .Append(Percent(matrix.PerClassRecall[i])).ToArray());
            }
            table.AddRow(new[] { "precision" }.Concat(matrix.PerClassPrecision.Select(p => Percent(p)))
                .Append("").ToArray());
            return table;
        }

        // Plain ASCII borders: logs, redirected output and terminals read the same.
        private static Table NewTable(params string[] headers)
        {
            var table = new Table().Border(TableBorder.Ascii).Collapse();
            table.AddColumn(new TableColumn(headers[0]));
            foreach (string header in headers.Skip(1))
                table.AddColumn(new TableColumn(header).RightAligned());
            return table;
        }

        private static Padder Indented(IRenderable content) => new Padder(content).PadLeft(2).PadTop(0).PadBottom(0)
            .PadRight(0);

        private static string Count(double count) => ((long)count).ToString(CultureInfo.InvariantCulture);
    }
}

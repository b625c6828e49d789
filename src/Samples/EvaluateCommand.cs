// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.CommandLine;
using System.IO;
using System.Linq;
using Microsoft.ML;

namespace Samples
{
    /// <summary>
    /// <c>evaluate --model model.zip --data &lt;folder&gt;</c>: scores a folder with one subfolder per class and prints
    /// the metrics and confusion matrix that <c>train</c> prints for its validation split.
    /// </summary>
    public static class EvaluateCommand
    {
        private static readonly Option<string> ModelOption = CliOptions.ModelFile();

        private static readonly Option<string> DataOption = new Option<string>("--data")
        {
            Description = "A folder with one subfolder per class (the class names the model knows).",
            HelpName = "folder",
            Required = true,
        };

        /// <summary>The command and its options.</summary>
        public static Command Create()
        {
            var command = new Command("evaluate",
                "Scores a folder with one subfolder per class and prints the metrics and the confusion matrix.")
            {
                ModelOption, DataOption,
            };
            Program.SetAction(command, Run);
            return command;
        }

        private static int Run(ParseResult parsed)
        {
            const string command = "evaluate";
            string modelPath = parsed.GetValue(ModelOption);
            string data = Path.GetFullPath(parsed.GetValue(DataOption));
            if (!File.Exists(modelPath))
                throw new UsageException($"{command}: the model '{modelPath}' does not exist.");

            var ml = new MLContext(seed: 0);
            var model = ml.Model.Load(modelPath, out _);
            try
            {
                var classNames = MetricsReport.FindTrainer(model).Model.ClassNames;
                var images = OfKnownClasses(ImageFolder.ReadLabelled(data, command, minimumClasses: 1), classNames,
                    data, command);
                Console.WriteLine(
                    $"Data: {data}: {images.Count} images ({ImageFolder.Counts(images)}); model classes: " +
                    $"{string.Join(", ", classNames)}.");
                var view = ml.Data.LoadFromEnumerable(ImageFolder.Rows(images));
                try
                {
                    MetricsReport.Print(MetricsReport.Evaluate(ml, model, view), classNames,
                        $"Evaluation of {modelPath}");
                }
                catch (Exception e) when (ImageFolder.TryNameFile(e, _ => images, out string message))
                {
                    Console.Error.WriteLine($"{command}: {message}");
                    return 1;
                }
                return 0;
            }
            finally
            {
                (model as IDisposable)?.Dispose();
            }
        }

        // The model maps classes it never saw to a missing key, which the evaluator cannot score: leave them out.
        private static List<LabelledImage> OfKnownClasses(List<LabelledImage> images, IReadOnlyList<string> classNames,
            string data, string command)
        {
            var unknown = images.Select(i => i.Label).Distinct().Where(l => !classNames.Contains(l))
                .OrderBy(l => l, StringComparer.Ordinal).ToList();
            if (unknown.Count == 0)
                return images;
            Console.WriteLine($"Note: the model does not know the classes {string.Join(", ", unknown)}; their images " +
                "are left out.");
            var known = images.Where(i => classNames.Contains(i.Label)).ToList();
            if (known.Count == 0)
                throw new UsageException($"{command}: no class folder of '{data}' is a class of the model " +
                    $"({string.Join(", ", classNames)}).");
            return known;
        }
    }
}

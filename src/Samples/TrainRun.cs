// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Freezing;
using Microsoft.ML.Runtime;
using Microsoft.ML.Transforms;

namespace Samples
{
    /// <summary>What <c>train</c> was asked for, read from the command line once (null: the trainer's
    /// default).</summary>
    public sealed record TrainRequest(
        string Data, string Output, string Checkpoints, ResNetArchitecture? Architecture, string WeightsText,
        PretrainedWeights Weights, int Epochs, int BatchSize, int ImageSize, double? LearningRate,
        double LayerLearningRateDecay, LearningRateSchedule Schedule, FreezeMask Freeze, UnfreezeSchedule Unfreezing,
        ImageAugmentation Augmentation, bool HorizontalFlip, InvalidImagePolicy InvalidImages,
        double ValidationFraction, double TestFraction, int Seed, int? Threads);

    /// <summary>
    /// The steps of <c>train</c>: set a test split aside, fit Model Builder's pipeline with the FrozenResNet trainer,
    /// save the model, report on the test split and draw the learning curve.
    /// </summary>
    public static class TrainRun
    {
        private const string Command = "train";

        // The folder's images and how they were split: the test split is never trained or selected on.
        private sealed record SplitImages(string Name, List<LabelledImage> Training, List<LabelledImage> Test);

        /// <summary>Runs the command; returns the process exit code.</summary>
        public static int Execute(TrainRequest request)
        {
            var images = SplitFolder(request);
            var ml = new MLContext(request.Seed);
            var display = new TrainingDisplay(request.Epochs, request.BatchSize);
            ShowTrainerMessages(ml, display);
            var pipeline = Pipeline(ml, TrainerOptions(request, display));
            Console.WriteLine(DescribeRun(request));
            if (request.Checkpoints != null)
                Console.WriteLine($"Checkpoints: {request.Checkpoints} (one after every epoch; run this command " +
                    "again to resume an interrupted run).");

            var train = ml.Data.LoadFromEnumerable(ImageFolder.Rows(images.Training));
            var clock = Stopwatch.StartNew();
            ITransformer model;
            try
            {
                model = display.Run(() => pipeline.Fit(train));
            }
            catch (Exception e) when (ImageFolder.TryNameFile(e, _ => images.Training, out string message))
            {
                Console.Error.WriteLine($"{Command}: {message}");
                Console.Error.WriteLine("Fix or remove the file, or pass --invalid-images skip to leave such images " +
                    "out (they are counted).");
                return 1;
            }
            try
            {
                return Report(ml, model, train.Schema, request, images, display, clock.Elapsed);
            }
            finally
            {
                (model as IDisposable)?.Dispose();
            }
        }

        // A folder of class subfolders. A test split (seeded, stratified, none from tiny data) that training never
        // sees; the trainer holds out its own validation split from the rest, on which Auto decides and the best
        // epoch is chosen. The test split's metrics are the honest ones.
        private static SplitImages SplitFolder(TrainRequest request)
        {
            var (data, name) = DataSets.Resolve(request.Data);
            var all = ImageFolder.ReadLabelled(data, Command);
            var classes = all.Select(i => i.Label).Distinct().Order(StringComparer.Ordinal).ToList();
            var split = ValidationSplit.Stratified(all.Select(i => classes.IndexOf(i.Label)).ToList(),
                request.TestFraction, request.Seed);
            Console.WriteLine($"Data: {data}: {all.Count} images ({ImageFolder.Counts(all)}).");
            Console.WriteLine(DescribeTestSplit(split, classes));
            return new SplitImages(name, split.TrainingRows.Select(i => all[i]).ToList(),
                split.ValidationRows.Select(i => all[i]).ToList());
        }

        // The library's description of a split, worded for the test split: what it holds, or why there is none and
        // what that means here (no test metrics; the validation split is the trainer's own concern).
        private static string DescribeTestSplit(ValidationSplit split, IReadOnlyList<string> classes)
        {
            if (split.HoldsOut)
                return split.Describe(classes).Replace("Validation split", "Test split", StringComparison.Ordinal)
                    .Replace(" validation (", " test (", StringComparison.Ordinal);
            return $"No test split: {split.Note(classes) ?? "--test-fraction is 0"}; every image goes to the " +
                "trainer, and no test metrics are reported.";
        }

        // The trainer speaks through ML.NET's log: its warnings, its validation split, checkpoints and the head-only
        // baseline are worth a line on the console.
        private static void ShowTrainerMessages(MLContext ml, TrainingDisplay display)
            => ml.Log += (_, e) =>
            {
                if (e.Kind == ChannelMessageKind.Warning || e.Kind == ChannelMessageKind.Error)
                    display.WriteLine($"{e.Kind}: {e.RawMessage}");
                else if (e.RawMessage.StartsWith("Validation split", StringComparison.Ordinal)
                    || e.RawMessage.StartsWith("No validation split", StringComparison.Ordinal)
                    || IsCheckpointMessage(e.RawMessage))
                    display.WriteLine(e.RawMessage);
                else if (IsHeadOnlyBaselineMessage(e.RawMessage))
                    display.WriteLine($"  thaw policy: {e.RawMessage}");
            };

        // The trainer's checkpoint lines: resumed, written (with its size), damaged, finished.
        private static bool IsCheckpointMessage(string message)
            => message.StartsWith("Resuming from checkpoint", StringComparison.Ordinal)
                || message.StartsWith("Checkpoint", StringComparison.Ordinal);

        // Auto's head-only baseline: when the head alone trained on for the thaw to beat, and when the run kept it.
        private static bool IsHeadOnlyBaselineMessage(string message)
            => message.Contains("as a baseline for the thaw", StringComparison.Ordinal)
                || message.StartsWith("Keeping the head-only baseline", StringComparison.Ordinal);

        private static FrozenResNetTrainer.Options TrainerOptions(TrainRequest request, TrainingDisplay display)
        {
            var options = new FrozenResNetTrainer.Options
            {
                LabelColumnName = "Label",
                FeatureColumnName = "ImageSource",
                PretrainedWeights = request.Weights,
                ImageSize = request.ImageSize,
                Epochs = request.Epochs,
                BatchSize = request.BatchSize,
                LearningRate = request.LearningRate,
                LayerLearningRateDecay = request.LayerLearningRateDecay,
                LearningRateSchedule = request.Schedule,
                Freeze = request.Freeze,
                Unfreezing = request.Unfreezing,
                Augmentation = request.Augmentation,
                HorizontalFlip = request.HorizontalFlip,
                InvalidImagePolicy = request.InvalidImages,
                ValidationFraction = request.ValidationFraction,
                Seed = request.Seed,
                NumberOfThreads = request.Threads,
                CheckpointFolder = request.Checkpoints,
                MetricsCallback = display.OnEpoch,
                BatchCallback = display.OnBatch,
            };
            if (request.Architecture.HasValue)
                options.Architecture = request.Architecture.Value;
            return options;
        }

        // Model Builder's pipeline. Keys ordered by value, so class k is the k-th name in sorted order.
        private static IEstimator<ITransformer> Pipeline(MLContext ml, FrozenResNetTrainer.Options options)
            => ml.Transforms.Conversion.MapValueToKey("Label", "Label",
                    keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue)
                .Append(ml.MulticlassClassification.Trainers.FrozenResNet(options))
                .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel", "PredictedLabel"));

        // One line of what will train. The automatic values are the library's (TrainingDefaults), marked as defaults.
        private static string DescribeRun(TrainRequest r)
        {
            var inv = CultureInfo.InvariantCulture;
            string source = r.Weights != PretrainedWeights.None ? r.Weights.Description
                : $"{r.Architecture ?? ResNetArchitecture.ResNet18} from random weights";
            double rate = TrainingDefaults.LearningRate(r.LearningRate, r.Weights);
            string decay = r.LayerLearningRateDecay != 1
                ? $" / {r.LayerLearningRateDecay.ToString("g3", inv)} per stage down" : "";
            return $"Training: {source}, {r.ImageSize}x{r.ImageSize} images, {r.Epochs} " +
                $"epoch{(r.Epochs == 1 ? "" : "s")} of batch {r.BatchSize}, lr {rate.ToString("g3", inv)}" +
                $"{(r.LearningRate is null ? " (default for the weights)" : "")}{decay}" +
                $"{(r.Schedule != LearningRateSchedule.Constant ? $" ({r.Schedule})" : "")}, " +
                $"freeze {Describe(r.Freeze, TrainingDefaults.Freeze(null, r.Weights))}, " +
                $"unfreeze {Describe(r.Unfreezing, TrainingDefaults.Unfreezing(null, r.Weights, r.Epochs))}, " +
                $"augment {(r.HorizontalFlip ? "cached flips" : r.Augmentation)}, keeping the epoch with the lowest " +
                "validation loss.";
        }

        // The option's value, or the trainer's default for it (as documented on its Options) marked as such.
        private static string Describe(object given, object trainerDefault)
            => given?.ToString() ?? $"{trainerDefault} (default)";

        // After training: what the run did, the saved model, the test split's metrics and the learning curve.
        private static int Report(MLContext ml, ITransformer model, DataViewSchema schema, TrainRequest request,
            SplitImages images, TrainingDisplay display, TimeSpan elapsed)
        {
            var trained = MetricsReport.FindTrainer(model);
            display.ShowEnd(trained.History.LastOrDefault()?.Record);
            Console.WriteLine($"Trained in {elapsed.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture)} s " +
                $"({trained.Model.Definition}, {trained.Model.Preprocessing}).");
            int resumedAfter = trained.History.Count(e => e.Record.FromCheckpoint) - 1;
            if (resumedAfter >= 0)
                Console.WriteLine($"Resumed from the checkpoint in {request.Checkpoints}: epochs 0..{resumedAfter} " +
                    "were trained by an earlier run, the time above is this run's.");

            SaveAtomically(ml, model, schema, request.Output);
            Console.WriteLine($"Saved the model to {request.Output}.");
            if (images.Test.Count > 0 && !ReportTestSplit(ml, model, images.Test, trained.Model.ClassNames))
                return 1;

            string png = Path.ChangeExtension(request.Output, ".png");
            LearningCurve.Save(trained.History.Select(e => e.Record).ToList(), png,
                $"{images.Name}: {WeightsOption.Label(request.WeightsText, request.Weights, request.Architecture)}, " +
                $"{request.ImageSize}x{request.ImageSize}, {images.Training.Count} train+validation / " +
                $"{images.Test.Count} test images");
            Console.WriteLine();
            Console.WriteLine($"Learning curve: {png}");
            return 0;
        }

        private static bool ReportTestSplit(MLContext ml, ITransformer model, List<LabelledImage> test,
            IReadOnlyList<string> classNames)
        {
            MulticlassClassificationMetrics metrics;
            try
            {
                metrics = MetricsReport.Evaluate(ml, model, ml.Data.LoadFromEnumerable(ImageFolder.Rows(test)));
            }
            catch (Exception e) when (ImageFolder.TryNameFile(e, _ => test, out string message))
            {
                Console.Error.WriteLine($"{Command}: the model is saved, but evaluating it failed. {message}");
                return false;
            }
            MetricsReport.Print(metrics, classNames,
                "Test split (images that training, Auto and the best-epoch choice never saw)");
            return true;
        }

        /// <summary>Saves to a temporary file in the target's folder, then renames it over the target.</summary>
        private static void SaveAtomically(MLContext ml, ITransformer model, DataViewSchema schema, string path)
        {
            string directory = Path.GetDirectoryName(path);
            Directory.CreateDirectory(directory);
            string temp = Path.Combine(directory, Path.GetFileName(path) + ".tmp-" + Guid.NewGuid().ToString("N"));
            try
            {
                ml.Model.Save(model, schema, temp);
                File.Move(temp, path, overwrite: true);
            }
            finally
            {
                if (File.Exists(temp))
                    File.Delete(temp);
            }
        }
    }
}

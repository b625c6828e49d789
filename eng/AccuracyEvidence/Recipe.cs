// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using Microsoft.ML.Freezing;

namespace AccuracyEvidence
{
    /// <summary>
    /// A row of the comparison: a name for the table and what it sets on the trainer's options. Every run first sets
    /// only the columns, ImageSize, Epochs and Seed (<see cref="Program"/>); a recipe sets nothing else but what its
    /// description names, so everything it does not name (weights, learning rate, validation, best epoch, batch,
    /// optimizer, augmentation) is the trainer's default. The defaults row sets nothing at all.
    /// </summary>
    /// <param name="ResNet18">Whether the row trains ML.NET's ResNet-18 (the rows the targets compare against).</param>
    /// <param name="SameAs">Another row whose runs this one reuses because its options are identical (the ablation's
    /// "Auto off" is the Gradual(1,1) row); null when it runs itself.</param>
    public sealed record Recipe(
        string Id, string Name, string Description, Action<FrozenResNetTrainer.Options> Apply,
        bool ResNet18 = true, string SameAs = null)
    {
        /// <summary>
        /// fastai's <c>fine_tune</c> spans lr/100 (stem) .. lr (head) over the 5 stages below the head.
        /// </summary>
        public static readonly double FineTuneDecay = Math.Pow(100, 1.0 / 5);

        public const string Defaults = "defaults", LinearProbe = "linear-probe", Full = "full", Gradual = "gradual",
            FineTune = "fine-tune", KerasProbe = "keras-resnet50-probe",
            NoPretrained = "ablation-no-pretrained", FixedRate = "ablation-lr-0.01",
            NoValidation = "ablation-no-validation", NoAuto = "ablation-no-auto", WithFlip = "defaults-flip";

        public static readonly Recipe[] All =
        {
            new(Defaults, "**Defaults**",
                "nothing set: ML.NET's ResNet-18, automatic rate (0.001), 10% stratified validation hold-out, " +
                "best epoch kept, `UnfreezeSchedule.Auto`",
                _ => { }),
            new(LinearProbe, "ResNet-18 linear probe", "`Freeze = AllButHead`, `Unfreezing = None`",
                o => { o.Freeze = FreezeMask.AllButHead; o.Unfreezing = UnfreezeSchedule.None; }),
            new(Full, "ResNet-18 full fine-tune", "`Freeze = None`, `Unfreezing = None`",
                o => { o.Freeze = FreezeMask.None; o.Unfreezing = UnfreezeSchedule.None; }),
            new(Gradual, "ResNet-18 Gradual(1,1)",
                "`Freeze = AllButHead`, `Unfreezing = Gradual(1,1)`: head first, one more stage each epoch",
                o => { o.Freeze = FreezeMask.AllButHead; o.Unfreezing = UnfreezeSchedule.Gradual(1, 1); }),
            new(FineTune, "ResNet-18 fastai `fine_tune` shape",
                "`AllButHead`, `At(1)`: 1 epoch head only, then everything; " +
                $"`LayerLearningRateDecay = {FineTuneDecay:F2}` (lr/100 at the stem)",
                o =>
                {
                    o.Freeze = FreezeMask.AllButHead;
                    o.Unfreezing = UnfreezeSchedule.At(1);
                    o.LayerLearningRateDecay = FineTuneDecay;
                }),
            new(KerasProbe, "Keras ResNet-50 linear probe (beside)",
                "`PretrainedWeights.KerasResNet50()`, `AllButHead`, `Unfreezing = None`: " +
                "the analogue of ML.NET's `ImageClassificationTrainer`",
                o =>
                {
                    o.PretrainedWeights = PretrainedWeights.KerasResNet50();
                    o.Freeze = FreezeMask.AllButHead;
                    o.Unfreezing = UnfreezeSchedule.None;
                },
                ResNet18: false),
            new(NoPretrained, "defaults, pretrained weights off",
                "`PretrainedWeights = PretrainedWeights.None`: random initialisation " +
                "(the defaults then train everything at 0.003, no thawing)",
                o => o.PretrainedWeights = PretrainedWeights.None),
            new(FixedRate, "defaults, automatic rate off", "`LearningRate = 0.01` (the trainer's old fixed rate)",
                o => o.LearningRate = 0.01),
            new(NoValidation, "defaults, validation + best epoch off",
                "`ValidationFraction = 0`: trains on all the training images, keeps the last epoch; " +
                "Auto, with nothing to watch, acts as Gradual(1,1)",
                o => o.ValidationFraction = 0),
            new(NoAuto, "defaults, Auto off",
                "`Unfreezing = Gradual(1,1)`: the same options as the Gradual(1,1) row " +
                "(the trainer's default freeze is AllButHead), so its runs are that row's",
                o => o.Unfreezing = UnfreezeSchedule.Gradual(1, 1), SameAs: Gradual),
            new(WithFlip, "defaults + cached flips",
                "`HorizontalFlip = true`: each image mirrored with probability 0.5 per epoch, both versions cached " +
                "(issue 12 item 5: a default only if it helps)",
                o => o.HorizontalFlip = true),
        };

        public static Recipe Get(string id)
            => Array.Find(All, r => r.Id == id) ?? throw new ArgumentException($"Unknown recipe '{id}'.");

        /// <summary>The ablation table: the defaults, then each automatic choice switched off in turn, then a
        /// candidate default switched on.</summary>
        public static readonly string[] Ablation =
            { Defaults, NoPretrained, FixedRate, NoValidation, NoAuto, WithFlip };

        /// <summary>The rows of a data set's table.</summary>
        public static readonly string[] Compared = { Defaults, LinearProbe, Full, Gradual, FineTune, KerasProbe };

        /// <summary>
        /// The ResNet-18 rows (other than the defaults) that the targets compare the defaults against.
        /// </summary>
        public static readonly string[] ResNet18Baselines = { LinearProbe, Full, Gradual, FineTune };
    }
}

using System;
using Microsoft.ML.Freezing;

namespace AccuracyEvidence
{
    /// <summary>
    /// A fine-tuning recipe: a name for the table and what it changes on the trainer's options. Every recipe but the
    /// sample's defaults runs the same epochs, batch, base rate, optimizer and (no) augmentation.
    /// </summary>
    public sealed record Recipe(string Id, string Name, string Description, Action<FrozenResNetTrainer.Options> Apply)
    {
        /// <summary>fastai's <c>fine_tune</c> spans lr/100 (stem) .. lr (head) over the 5 stages below the head.</summary>
        public static readonly double FineTuneDecay = Math.Pow(100, 1.0 / 5);

        public static Recipe[] Compared(int epochs) => new[]
        {
            new Recipe("linear-probe", "Linear probe", "all but the head frozen, no thawing (AllButHead, None)",
                o => { o.Freeze = FreezeMask.AllButHead; o.Unfreezing = UnfreezeSchedule.None; }),
            new Recipe("full", "Full fine-tune", "nothing frozen from the start (None)",
                o => { o.Freeze = FreezeMask.None; o.Unfreezing = UnfreezeSchedule.None; }),
            new Recipe("gradual", "Gradual unfreezing", "head first, one more stage each epoch (Gradual(1,1))",
                o => { o.Freeze = FreezeMask.AllButHead; o.Unfreezing = UnfreezeSchedule.Gradual(1, 1); }),
            new Recipe("gradual-decay", "Gradual + discriminative rates", "Gradual(1,1), rate / 2.6 per stage down from the head",
                o => { o.Freeze = FreezeMask.AllButHead; o.Unfreezing = UnfreezeSchedule.Gradual(1, 1); o.LayerLearningRateDecay = 2.6; }),
            new Recipe("gradual-flipcrop", "Gradual + flips and crops", "Gradual(1,1) on randomly flipped and cropped images (no activation cache)",
                o => { o.Freeze = FreezeMask.AllButHead; o.Unfreezing = UnfreezeSchedule.Gradual(1, 1); o.Augmentation = ImageAugmentation.FlipAndCrop; }),
            new Recipe("fine-tune", "fastai fine_tune shape", $"1 epoch head only, then everything (At(1)), rate / {FineTuneDecay:F2} per stage: lr/100 at the stem",
                o => { o.Freeze = FreezeMask.AllButHead; o.Unfreezing = UnfreezeSchedule.At(1); o.LayerLearningRateDecay = FineTuneDecay; }),
        };
    }
}

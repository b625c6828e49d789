// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using static System.FormattableString;

namespace Microsoft.ML.Freezing
{
    /// <summary>What happened in one epoch (epochs count from 0).</summary>
    public sealed class EpochRecord
    {
        /// <summary>The epoch, from 0.</summary>
        public int Epoch { get; init; }
        /// <summary>Stages with at least one frozen parameter during the epoch.</summary>
        public IReadOnlyList<ResNetStage> FrozenStages { get; init; }
        /// <summary>Number of scalar parameters that trained.</summary>
        public long TrainableParameters { get; init; }
        /// <summary>Each stage's rate at the epoch's start: base rate × schedule factor (before any thaw
        /// warm-up).</summary>
        public IReadOnlyDictionary<ResNetStage, double> StageLearningRates { get; init; }
        /// <summary>Mean training loss over the epoch's batches (weighted by batch size).</summary>
        public double TrainLoss { get; init; }
        /// <summary>Training accuracy over the epoch (measured in training mode, as the batches went by).</summary>
        public double TrainAccuracy { get; init; }
        /// <summary>Validation loss, when a validation set was given.</summary>
        public double? ValidationLoss { get; init; }
        /// <summary>
        /// Standard error of <see cref="ValidationLoss"/> (the per-image losses' standard deviation over the square
        /// root of their number): how far the loss would move on another draw of as many validation images. Null
        /// without validation, and in the history of a saved model.
        /// </summary>
        public double? ValidationLossStandardError { get; init; }
        /// <summary>
        /// Each validation image's loss, in the validation set's order (the same every epoch), so that two epochs can
        /// be compared image by image (<see cref="UnfreezeSchedule.Auto"/>'s paired test). Null without validation,
        /// and in the history of a saved model.
        /// </summary>
        public IReadOnlyList<float> ValidationLosses { get; init; }
        /// <summary>Validation accuracy, when a validation set was given.</summary>
        public double? ValidationAccuracy { get; init; }
        /// <summary>Training throughput.</summary>
        public double ImagesPerSecond { get; init; }
        /// <summary>The stage output the epoch trained from when it read cached activations; null when it ran from the
        /// images.</summary>
        public ResNetStage? CachedBoundary { get; init; }
        /// <summary>
        /// The stage output validation read from its activation cache (the frozen prefix ran once for it); null when
        /// validation ran from the images (or there was none).
        /// </summary>
        public ResNetStage? ValidationCachedBoundary { get; init; }
        /// <summary>
        /// Why the thaw policy chose this epoch's mask, when it said (a reactive policy such as
        /// <see cref="UnfreezeSchedule.Auto"/> always does; it is also logged as "Epoch k: reason"); else null.
        /// </summary>
        public string ThawReason { get; init; }
        /// <summary>
        /// Set when, after this epoch, the weights of an earlier epoch were put back (by the thaw policy, early
        /// stopping or <see cref="FineTuneOptions.RestoreBestEpoch"/>): that epoch, or the head-only baseline's epoch
        /// when <see cref="HeadOnlyBaselineKept"/> is set. Null otherwise.
        /// </summary>
        public int? RestoredEpoch { get; internal set; }
        /// <summary>
        /// Set on the last epoch of a run that ended before its configured epochs: why (the thaw policy's reason, or
        /// early stopping). Null otherwise.
        /// </summary>
        public string StopReason { get; internal set; }
        /// <summary>Wall time of the epoch, validation included.</summary>
        public TimeSpan Duration { get; init; }
        /// <summary>
        /// True when the epoch was trained by an earlier process and read back from a checkpoint
        /// (<see cref="FineTuneSettings.CheckpointFolder"/>): the run resumed after it. False for epochs trained by
        /// this run.
        /// </summary>
        public bool FromCheckpoint { get; init; }
        /// <summary>
        /// On an epoch of a thaw that <see cref="UnfreezeSchedule.Auto"/> judges against the head alone: the head
        /// alone, trained on from the epoch before the thaw for as many epochs (from cached activations, with the run's
        /// batch orders, rates and optimizer state: the linear probe's own later epochs), at its best so far by
        /// validation loss. Its record (validation metrics and per-image losses), or null when no such baseline was
        /// trained (<see cref="ThawPolicy.UsesHeadOnlyBaseline"/>).
        /// </summary>
        public EpochRecord HeadOnlyBaseline { get; internal set; }
        /// <summary>
        /// Set on the last epoch of a run that ended with the head-only baseline's weights (its epoch
        /// <see cref="RestoredEpoch"/>, the mask before the thaw): no thawed epoch validated better than the head alone
        /// trained as long.
        /// </summary>
        public bool HeadOnlyBaselineKept { get; internal set; }

        /// <inheritdoc/>
        public override string ToString()
        {
            string frozen = FrozenStages.Count == 0 ? "none" : string.Join(",", FrozenStages.Select(s => s.Name()));
            // Invariant culture, as every other message of the engine: a log reads the same on every machine.
            string rates = string.Join(" ",
                StageLearningRates.Where(kv => !FrozenStages.Contains(kv.Key))
                .Select(kv => Invariant($"{kv.Key.Name()}={kv.Value:g3}")));
            string validation = ValidationLoss.HasValue
                ? Invariant($", val loss {ValidationLoss:F4} acc {100 * ValidationAccuracy:F1}%")
                : "";
            string cached = CachedBoundary.HasValue ? $" (from cached {CachedBoundary.Value.Name()} outputs)" : "";
            string resumed = FromCheckpoint ? " (from the checkpoint)" : "";
            return Invariant($"epoch {Epoch}{resumed}: frozen [{frozen}], {TrainableParameters:N0} trainable, ") +
                Invariant($"lr {rates}; train loss {TrainLoss:F4} acc {100 * TrainAccuracy:F1}%{validation}; ") +
                Invariant($"{ImagesPerSecond:F1} img/s{cached}");
        }
    }

    /// <summary>Progress after one training batch.</summary>
    public readonly record struct BatchProgress(int Epoch, int Batch, int BatchesPerEpoch, double Loss,
        double ImagesPerSecond);

    /// <summary>Loss and accuracy over a data set.</summary>
    public readonly record struct EvaluationResult(double Loss, double Accuracy, long Count)
    {
        /// <summary>Standard error of <see cref="Loss"/>: the per-image losses' standard deviation over
        /// √<see cref="Count"/>.</summary>
        public double LossStandardError { get; init; }
        /// <summary>Each image's loss, in the data's order.</summary>
        public IReadOnlyList<float> Losses { get; init; }
    }
}

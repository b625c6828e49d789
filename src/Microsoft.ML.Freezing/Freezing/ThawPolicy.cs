// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Decides, at every epoch boundary, which parameters are frozen for the coming epoch, from what happened so far
    /// (the validation metrics of the epochs before, the mask in force). Like fastai's callbacks or Lightning's
    /// <c>BaseFinetuning.finetune_function</c>, but the loop does the mechanics: it applies the mask, resets the
    /// optimizer state of parameters that thaw, warms them up, and keeps the activation cache valid.
    /// </summary>
    /// <remarks>
    /// <see cref="UnfreezeSchedule"/> (none, gradual, at, custom) is the planned kind: it knows every epoch's mask up
    /// front (<see cref="PlannedMasks"/>), and the loop follows that plan without calling <see cref="Decide"/>. A
    /// reactive policy returns no plan; the loop then calls <see cref="Decide"/> before every epoch, epoch 0 included.
    /// </remarks>
    public abstract class ThawPolicy
    {
        /// <summary>Creates the policy.</summary>
        protected ThawPolicy() { }

        /// <summary>
        /// The decision for epoch <see cref="ThawContext.Epoch"/>: its mask, and whether to restore the best epoch's
        /// weights or to stop first. Called once per epoch, in order, with the history of the epochs before.
        /// </summary>
        public abstract ThawDecision Decide(ThawContext context);

        /// <summary>
        /// The mask of each of <paramref name="epochs"/> epochs when the policy knows them before training (then the
        /// activation cache can keep every freeze boundary the run will reach, and <see cref="Decide"/> is not called);
        /// null, the default, for a policy that reacts to what happens.
        /// </summary>
        public virtual IReadOnlyList<FreezeMask> PlannedMasks(
            FreezeMask initial, IReadOnlyList<string> parameterNames, int epochs, Action<string> log) => null;

        /// <summary>
        /// Whether the run ends with the weights of its best validated epoch (as with
        /// <see cref="FineTuneOptions.RestoreBestEpoch"/>), when a validation set was given. Default false.
        /// </summary>
        public virtual bool RestoreBestEpochAtEnd => false;

        /// <summary>
        /// Whether the loop trains a head-only baseline at the first thaw from a mask that trains the head alone:
        /// before the thawed epochs, the head alone goes on from the same weights and optimizer state to the end of the
        /// epoch budget, on cached activations (its epochs cost next to nothing), and each thawed epoch's record
        /// carries the baseline's best so far (<see cref="EpochRecord.HeadOnlyBaseline"/>), so that a thaw can be
        /// judged against the head trained as long instead of the head as it was when the thaw began;
        /// <see cref="ThawDecision.RestoreHeadOnlyBaseline"/> then puts the baseline's best weights back. Needs a
        /// validation set and the activation cache (the loop logs why when it cannot). Default false.
        /// </summary>
        public virtual bool UsesHeadOnlyBaseline => false;

        /// <summary>
        /// Whether <paramref name="candidate"/>'s weights replace <paramref name="best"/>'s as the run's best epoch:
        /// the weights a restore puts back (<see cref="ThawDecision.RestoreBestWeights"/>,
        /// <see cref="RestoreBestEpochAtEnd"/>, <see cref="FineTuneOptions.RestoreBestEpoch"/>). Both were validated.
        /// Default: a lower validation loss. Early stopping, when on, uses its own metric instead.
        /// </summary>
        public virtual bool Improves(EpochRecord candidate, EpochRecord best)
        {
            if (candidate == null) throw new ArgumentNullException(nameof(candidate));
            if (best == null) throw new ArgumentNullException(nameof(best));
            return candidate.ValidationLoss < best.ValidationLoss;
        }

        // Why Improves does not rank candidate above best, for the log; null when it does. The library's own policies
        // give their rule's numbers; a user's policy gets this general line.
        internal virtual string WhyNotImproved(EpochRecord candidate, EpochRecord best)
            => Improves(candidate, best) ? null
                : $"{GetType().Name}.Improves does not rank it above (validation loss " +
                    $"{candidate.ValidationLoss:F4} against {best.ValidationLoss:F4})";
    }

    /// <summary>What a <see cref="ThawPolicy"/> decided at an epoch boundary.</summary>
    /// <param name="Mask">The freeze mask of the coming epoch (may be null when <see cref="Stop"/> is set).</param>
    /// <param name="Reason">Why, in a few words; logged as "Epoch k: reason" when not null.</param>
    public sealed record ThawDecision(FreezeMask Mask, string Reason = null)
    {
        /// <summary>
        /// Put the weights of the best epoch so far (by <see cref="ThawPolicy.Improves"/>, or by the early-stopping
        /// metric when early stopping is on) back before the coming epoch, with fresh optimizer state. Needs a
        /// validation set.
        /// </summary>
        public bool RestoreBestWeights { get; init; }

        /// <summary>
        /// Put back the weights of the head-only baseline's best epoch (<see cref="ThawPolicy.UsesHeadOnlyBaseline"/>)
        /// and the mask it trained with, or the best epoch's weights (as <see cref="RestoreBestWeights"/>) when that
        /// epoch validated better. The baseline trained to the end of the budget, so this goes with
        /// <see cref="Stop"/>. Needs a baseline (a thaw recorded with <see cref="EpochRecord.HeadOnlyBaseline"/>).
        /// </summary>
        public bool RestoreHeadOnlyBaseline { get; init; }

        /// <summary>End training now, before the coming epoch (after restoring, when that is asked too).</summary>
        public bool Stop { get; init; }
    }
}

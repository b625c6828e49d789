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
        /// Adaptive unfreezing, driven by validation loss: train with the initial mask (the head) until validation
        /// loss has not dropped by <paramref name="minDelta"/> for <paramref name="patience"/> epochs, then thaw the
        /// top-most frozen stage (layer4, then layer3, ...), and again at each later plateau. When,
        /// <paramref name="patience"/> epochs after a thaw, validation loss is still worse than the best before that
        /// thaw, the best epoch's weights and mask come back and thawing is over: training goes on with that mask (with
        /// the head alone that costs almost nothing, its inputs being cached) until validation stops improving, and
        /// then the run stops with the best weights; it also stops so at a plateau with nothing left to thaw.
        /// <see cref="FineTuneSettings.Epochs"/> is an upper bound, and the run ends
        /// with the best validated epoch's weights, so it validates no worse than its own head-only phase. Every
        /// decision and its reason is logged and kept in <see cref="EpochRecord.ThawReason"/>
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

            private protected override bool IsPlanned => false;

            private protected override IEnumerable<int> FixedEpochs => Enumerable.Empty<int>();

            // Everything is derived from the history, so one instance serves any number of runs.
            public override ThawDecision Decide(ThawContext context)
            {
                if (context == null) throw new ArgumentNullException(nameof(context));
                var history = context.History;
                if (history.Count == 0)
                    return Keep(context, $"{this} trains the initial mask until validation loss stops improving");
                if (history[history.Count - 1].ValidationLoss == null)
                    return WithoutValidation(context);
                var losses = history.Select(h => h.ValidationLoss.Value).ToList();
                int restoredAfter = LastRestore(history);
                if (restoredAfter >= 0)
                    return Settled(context, losses, restoredAfter);
                int phaseStart = CurrentMaskSince(history);
                int phaseLength = history.Count - phaseStart;
                if (phaseStart > 0 && phaseLength >= _patience)
                {
                    double before = losses.Take(phaseStart).Min(), since = losses.Skip(phaseStart).Min();
                    if (since > before)
                        return RestoreAndSettle(context, losses, $"the best validation loss since the thaw at epoch " +
                            $"{phaseStart}, {Format(since)}, is worse than {Format(before)} before it");
                }
                var (best, bestLoss) = LastImprovement(losses);
                int stale = losses.Count - 1 - best;
                if (stale < _patience || phaseLength < _patience)
                    return Keep(context, Progress(losses, stale, bestLoss, phaseLength));
                string plateau = $"validation loss {Format(losses[^1])} did not improve on {Format(bestLoss)} " +
                    $"{ByDelta}for {Epochs(stale)}";
                return context.FrozenStages.Count == 0
                    ? RestoreAndStop(losses, plateau + " and nothing is left to thaw")
                    : Thaw(context, plateau);
            }

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

            // After a thaw that hurt: the restored mask trains on until validation stops improving on the best.
            private ThawDecision Settled(ThawContext context, List<double> losses, int restoredAfter)
            {
                int since = losses.Count - 1 - restoredAfter;
                double best = losses.Take(restoredAfter + 1).Min();
                double recent = losses.Skip(restoredAfter + 1).DefaultIfEmpty(double.PositiveInfinity).Min();
                if (recent < best - _minDelta || since < _patience)
                    return Keep(context, $"thawing is over (a thaw made validation worse); validation loss " +
                        $"{Format(losses[^1])}, the best {Format(losses.Min())}");
                return RestoreAndStop(losses, $"since the restore validation loss did not improve on " +
                    $"{Format(best)} {ByDelta}for {Epochs(since)} and thawing is over");
            }

            // The best epoch's weights and mask back (the stages thawed since it freeze again); no more thawing.
            private static ThawDecision RestoreAndSettle(ThawContext context, List<double> losses, string why)
            {
                int best = losses.IndexOf(losses.Min());
                var refreeze = context.History[best].FrozenStages.Except(context.FrozenStages).ToArray();
                var mask = refreeze.Length == 0 ? context.CurrentMask
                    : context.CurrentMask.Union(FreezeMask.Stages(refreeze));
                string again = refreeze.Length > 0
                    ? $", freezing {string.Join(",", refreeze.Select(s => s.Name()))} again" : "";
                string reason = $"{why}: restoring the weights of epoch {best} (validation loss " +
                    $"{Format(losses[best])}){again} and thawing no more.";
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

            // The last epoch that improved on every epoch before it by at least the min delta, and its loss.
            private (int Epoch, double Loss) LastImprovement(List<double> losses)
            {
                int best = 0;
                for (int i = 1; i < losses.Count; i++)
                {
                    if (losses[i] < losses[best] - _minDelta)
                        best = i;
                }
                return (best, losses[best]);
            }

            private string Progress(List<double> losses, int stale, double bestLoss, int phaseLength)
            {
                if (losses.Count == 1)
                    return $"validation loss {Format(losses[0])} after the first epoch";
                if (stale == 0)
                    return $"validation loss {Format(losses[^1])} improved on " +
                        Format(losses.SkipLast(1).Min());
                if (stale < _patience)
                    return $"validation loss {Format(losses[^1])} has not improved on {Format(bestLoss)} " +
                        $"{ByDelta}for {stale} of {Epochs(_patience)}";
                return $"the mask has trained {Epochs(phaseLength)} of the patience's {_patience}";
            }

            private static ThawDecision Keep(ThawContext context, string why)
                => new ThawDecision(context.CurrentMask, $"{why}: keeping {Frozen(context)} frozen.");

            private static ThawDecision Thaw(ThawContext context, string why)
            {
                var top = context.FrozenStages.Max();
                return new ThawDecision(context.CurrentMask.Except(FreezeMask.Stages(top)),
                    $"{why}: thawing {top.Name()}.");
            }

            private static ThawDecision RestoreAndStop(List<double> losses, string why)
            {
                int best = losses.IndexOf(losses.Min());
                string reason = $"{why}: restoring the weights of epoch {best} " +
                    $"(validation loss {Format(losses[best])}) and stopping.";
                return new ThawDecision(null, reason) { RestoreBestWeights = true, Stop = true };
            }

            private static ThawDecision WithoutValidation(ThawContext context)
            {
                const string why = "no validation loss to watch (no validation set), so auto acts as gradual(1,1)";
                return context.FrozenStages.Count == 0
                    ? new ThawDecision(context.CurrentMask, $"{why}: nothing left to thaw.")
                    : Thaw(context, why);
            }

            private string ByDelta
                => _minDelta > 0 ? $"by {_minDelta.ToString("g", CultureInfo.InvariantCulture)} " : "";

            private static string Frozen(ThawContext context)
                => context.FrozenStages.Count == 0
                    ? "nothing" : string.Join(",", context.FrozenStages.Select(s => s.Name()));

            private static string Epochs(int count) => count == 1 ? "1 epoch" : $"{count} epochs";

            private static string Format(double loss) => loss.ToString("F4", CultureInfo.InvariantCulture);

            private protected override FreezeMask Step(int epoch, FreezeMask current, IReadOnlyList<string> names,
                Action<string> log)
                => throw new InvalidOperationException($"{this} has no plan: it decides from validation.");

            public override string ToString()
                => string.Create(CultureInfo.InvariantCulture, $"auto({_patience},{_minDelta:g})");
        }
    }
}

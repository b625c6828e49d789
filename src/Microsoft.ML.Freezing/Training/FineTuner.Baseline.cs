// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;

namespace Microsoft.ML.Freezing
{
    // The head-only baseline (ThawPolicy.UsesHeadOnlyBaseline): at the first thaw from the head alone, the head trains
    // on alone to the end of the budget, then the run goes back to where it was and thaws; a thaw is judged against
    // the head trained as long, and the run can end with the head's weights.
    public sealed partial class FineTuner
    {
        private bool _trainingBaseline; // its batches are not the run's progress (no BatchCallback)

        /// <summary>
        /// Before the first thaw from a head-only mask (when the policy asks for it, the run validates and caches
        /// activations; a resumed run's first baseline epoch refills the cache in index order): the head alone trains
        /// epochs <paramref name="epoch"/>.. to the end of the budget with the run's batch orders and rates, from the
        /// same weights and optimizer state, which then come back.
        /// </summary>
        private void TrainHeadOnlyBaseline(int epoch, ThawDecision decision, FitRun run)
        {
            if (!WantsHeadOnlyBaseline(decision, run))
                return;
            if (run.Cache == null)
            {
                _options.Log?.Invoke($"Epoch {epoch}: no head-only baseline (the activation cache is off, so it " +
                    "would cost full passes); the thaw is judged against the epochs before it.");
                return;
            }
            var clock = Stopwatch.StartNew();
            var baseline = WithWeightsRestored(() => TrainBaselineEpochs(epoch, run));
            run.Baseline = baseline;
            _options.Log?.Invoke($"Epoch {epoch}: the head alone trained epochs {epoch}..{_options.Epochs - 1} as a " +
                $"baseline for the thaw in {clock.Elapsed.TotalSeconds:F1} s; its best, epoch {baseline.Best.Epoch}: " +
                $"validation loss {Format(baseline.Best.ValidationLoss)}, accuracy " +
                $"{Percent(baseline.Best.ValidationAccuracy)}.");
        }

        // The run's first thaw from the head alone, when the policy judges thaws against a baseline and the run
        // validates.
        private bool WantsHeadOnlyBaseline(ThawDecision decision, FitRun run)
            => _policy.UsesHeadOnlyBaseline && run.Baseline == null && run.Validation != null && !decision.Stop
                && decision.Mask != null && LowestTrainableStageNow() == ResNetStage.Head
                && _parameterNames.Any(n => decision.Mask.IsFrozen(n) != CurrentMask.IsFrozen(n));

        // The head alone, epochs epoch.. to the end of the budget, as the run would train them; not in the history.
        private HeadOnlyBaseline TrainBaselineEpochs(int epoch, FitRun run)
        {
            var baseline = HeadOnlyBaseline.Start(CurrentMask);
            _trainingBaseline = true;
            try
            {
                for (int e = epoch; e < _options.Epochs; e++)
                {
                    var record = TrainEpoch(e, new ThawDecision(CurrentMask), run);
                    _history.RemoveAt(_history.Count - 1);
                    baseline.Add(record, Model);
                }
                return baseline;
            }
            catch
            {
                baseline.Dispose();
                throw;
            }
            finally
            {
                _trainingBaseline = false;
            }
        }

        // Runs train, then puts the weights and the optimizer state back as they were before it, even when it throws.
        private T WithWeightsRestored<T>(Func<T> train)
        {
            var weights = WeightCopies.Of(Model);
            byte[] optimizerState = OptimizerStateBytes();
            try
            {
                return train();
            }
            finally
            {
                Model.load_state_dict(weights, strict: true);
                foreach (var tensor in weights.Values)
                    tensor.Dispose();
                using var reader = new BinaryReader(new MemoryStream(optimizerState, writable: false));
                LoadOptimizerState(reader);
            }
        }

        /// <summary>
        /// The policy's <see cref="ThawDecision.RestoreHeadOnlyBaseline"/>: the baseline's best weights, or the best
        /// epoch's when the policy ranks that epoch above them. Returns the epoch the model now holds.
        /// </summary>
        private int RestoreHeadOnlyBaselineOrBest(BestEpoch best, FitRun run, int epoch, int heldEpoch,
            FreezeMask mask)
        {
            var baseline = run.Baseline ?? throw new InvalidOperationException($"Thaw policy {_policy} asked at " +
                $"epoch {epoch} for the head-only baseline's weights, but none was trained.");
            if (WhyBaseline(best, baseline) is { } why)
                return KeepBaseline(baseline, why);
            heldEpoch = RestoreBeforeEpoch(best, run, epoch, heldEpoch);
            if (mask != null)
                ApplyMask(mask);
            return heldEpoch;
        }

        /// <summary>The end of a run that trained a baseline: its weights when they validated better than the best
        /// epoch's (by the policy's rule). Returns whether the model holds them.</summary>
        private bool EndsWithBaseline(BestEpoch best, FitRun run)
        {
            if (run.Baseline is not { } baseline)
                return false;
            if (!baseline.Adopted && best.HasWeights && WhyBaseline(best, baseline) is { } why)
                KeepBaseline(baseline, why);
            return baseline.Adopted;
        }

        // Why the baseline's best ends the run rather than the best epoch, or null when the best epoch stays. Against
        // a head-only best, a lower loss (the linear probe's own rule, so that the run ends as the probe would);
        // against a thawed best, unless the policy ranks that epoch above the baseline.
        private string WhyBaseline(BestEpoch best, HeadOnlyBaseline baseline)
        {
            var kept = baseline.Best;
            if (kept == null)
                return null;
            if (best.Record == null)
                return "no epoch of the run was validated";
            if (best.Record.FrozenStages.Count == kept.FrozenStages.Count)
                return kept.ValidationLoss < best.Record.ValidationLoss
                    ? $"its validation loss is below the best epoch's ({best.Record.Epoch}: " +
                        $"{Format(best.Record.ValidationLoss)})"
                    : null;
            return _policy.WhyNotImproved(best.Record, kept) is { } cost
                ? $"the best epoch ({best.Record.Epoch}, thawed) does not improve on it: {cost}"
                : null;
        }

        private int KeepBaseline(HeadOnlyBaseline baseline, string why)
        {
            var kept = baseline.Best;
            _options.Log?.Invoke($"Keeping the head-only baseline's epoch {kept.Epoch} (validation loss " +
                $"{Format(kept.ValidationLoss)}, accuracy {Percent(kept.ValidationAccuracy)}) and its mask: {why}.");
            baseline.Restore(Model);
            ApplyMask(baseline.Mask);
            if (_history.Count > 0)
            {
                _history[^1].RestoredEpoch = kept.Epoch;
                _history[^1].HeadOnlyBaselineKept = true;
            }
            return kept.Epoch;
        }

        private byte[] OptimizerStateBytes()
        {
            using var stream = new MemoryStream();
            using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
                SaveOptimizerState(writer);
            return stream.ToArray();
        }

        private static string Format(double? value)
            => (value ?? double.NaN).ToString("F4", CultureInfo.InvariantCulture);

        private static string Percent(double? value)
            => ((value ?? double.NaN) * 100).ToString("F1", CultureInfo.InvariantCulture) + "%";
    }
}

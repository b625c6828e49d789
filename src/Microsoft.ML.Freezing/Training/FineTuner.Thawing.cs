// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;

namespace Microsoft.ML.Freezing
{
    // The epoch boundaries: the thaw policy's decision, early stopping, and putting the best epoch's weights back.
    public sealed partial class FineTuner
    {
        /// <summary>The planned mask of <paramref name="epoch"/>, or what the reactive policy decides now.</summary>
        private ThawDecision DecideThaw(int epoch)
        {
            if (Plan != null)
                return new ThawDecision(Plan[epoch]);
            var context = new ThawContext(epoch, _options.Epochs, CurrentMask, _history.ToArray(), _parameterNames,
                _options.Log);
            var decision = _policy.Decide(context)
                ?? throw new InvalidOperationException($"Thaw policy {_policy} gave no decision for epoch {epoch}.");
            if (decision.Reason != null)
                _options.Log?.Invoke($"Epoch {epoch}: {decision.Reason}");
            if (decision.Mask == null && !decision.Stop)
                throw new InvalidOperationException($"Thaw policy {_policy} gave no freeze mask for epoch {epoch}.");
            decision.Mask?.Validate(_parameterNames);
            return decision;
        }

        /// <summary>The restore a decision asks for, if any. Returns the epoch the model now holds.</summary>
        private int RestoreAsDecided(ThawDecision decision, BestEpoch best, FitRun run, int epoch, int heldEpoch)
            => decision.RestoreHeadOnlyBaseline
                ? RestoreHeadOnlyBaselineOrBest(best, run, epoch, heldEpoch, decision.Mask)
                : decision.RestoreBestWeights ? RestoreBeforeEpoch(best, run, epoch, heldEpoch) : heldEpoch;

        /// <summary>
        /// After the last epoch: the head-only baseline's weights when they validated better, else the best epoch's
        /// (<see cref="RestoreBestAtEnd"/>); sets <see cref="RestoredEpoch"/>.
        /// </summary>
        private void EndRun(BestEpoch best, FitRun run, int heldEpoch)
        {
            if (EndsWithBaseline(best, run))
            {
                RestoredEpoch = run.Baseline.Best.Epoch;
                return;
            }
            heldEpoch = RestoreBestAtEnd(best, heldEpoch);
            RestoredEpoch = _history.Count > 0 && heldEpoch != _history[^1].Epoch ? heldEpoch : null;
        }

        /// <summary>
        /// A policy's restore between epochs: the best weights back, with fresh optimizer state and an empty
        /// activation cache (both belonged to the weights just discarded). Returns the epoch the model now holds.
        /// </summary>
        private int RestoreBeforeEpoch(BestEpoch best, FitRun run, int epoch, int heldEpoch)
        {
            if (!best.HasWeights)
                throw new InvalidOperationException($"Thaw policy {_policy} asked at epoch {epoch} for the best " +
                    "epoch's weights, but none were kept: that needs a validation set and a finished epoch.");
            if (best.Epoch == heldEpoch)
            {
                _options.Log?.Invoke($"Epoch {epoch}: the model holds the best epoch's weights ({best.Epoch}).");
                return heldEpoch;
            }
            RestoreBest(best, $"the best by {best.Metric}, as thaw policy {_policy} asked");
            ParameterGroups.ResetState(Optimizer, Groups, new HashSet<string>(_parameterNames));
            run.Cache?.Retain(new HashSet<ResNetStage>());
            run.ValidationCache?.Retain(new HashSet<ResNetStage>());
            return best.Epoch;
        }

        /// <summary>
        /// With early stopping, <see cref="FineTuneOptions.RestoreBestEpoch"/> or a thaw policy that asks for it
        /// (<see cref="ThawPolicy.RestoreBestEpochAtEnd"/>), puts the best epoch's weights back
        /// unless the model holds them. Returns the epoch the model now holds.
        /// </summary>
        private int RestoreBestAtEnd(BestEpoch best, int heldEpoch)
        {
            bool wanted = _options.EarlyStopping != null || _options.RestoreBestEpoch || _policy.RestoreBestEpochAtEnd;
            if (!wanted || best.Epoch < 0 || best.Epoch == heldEpoch)
                return heldEpoch;
            RestoreBest(best, $"the best by {best.Metric}");
            return best.Epoch;
        }

        private void RestoreBest(BestEpoch best, string why)
        {
            _options.Log?.Invoke($"Restoring the weights of epoch {best.Epoch}, {why}.");
            best.Restore(Model);
            if (_history.Count > 0)
                _history[_history.Count - 1].RestoredEpoch = best.Epoch;
        }

        // The run ends before `epoch`: the last record says why.
        private void StopBefore(int epoch, string why)
        {
            if (epoch > 0)
                _history[_history.Count - 1].StopReason = why;
        }

        /// <summary>Whether early stopping ends the run after <paramref name="record"/>'s epoch.</summary>
        private bool StopsEarly(EpochRecord record, BestEpoch best)
        {
            var early = _options.EarlyStopping;
            if (early == null || record.Epoch - best.Epoch < early.Patience)
                return false;
            string why = $"no {early.Metric} improvement since epoch {best.Epoch}";
            _options.Log?.Invoke($"Early stopping after epoch {record.Epoch}: {why}.");
            StopBefore(record.Epoch + 1, "early stopping: " + why);
            return true;
        }
    }
}

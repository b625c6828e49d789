// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// The best validated epoch so far and, when asked to keep them, a copy of its weights. Early stopping,
    /// <see cref="FineTuneOptions.RestoreBestEpoch"/> and a thaw policy's restore request share it. What "better" means
    /// is early stopping's metric and threshold when it is on, else the thaw policy's
    /// <see cref="ThawPolicy.Improves"/>.
    /// </summary>
    internal sealed class BestEpoch : IDisposable
    {
        private readonly bool _keepWeights;
        private readonly Func<EpochRecord, EpochRecord, bool> _improves;
        private Dictionary<string, Tensor> _weights;

        public BestEpoch(EarlyStoppingMetric metric, Func<EpochRecord, EpochRecord, bool> improves, bool keepWeights)
        {
            Metric = metric;
            _improves = improves;
            _keepWeights = keepWeights;
        }

        public static BestEpoch For(FineTuneOptions options, ThawPolicy policy, bool keepWeights)
        {
            if (options.EarlyStopping is { } early)
            {
                bool Improves(EpochRecord candidate, EpochRecord best)
                    => ScoreOf(candidate, early.Metric) > ScoreOf(best, early.Metric) + early.MinDelta;
                return new BestEpoch(early.Metric, Improves, keepWeights);
            }
            return new BestEpoch(EarlyStoppingMetric.ValidationLoss, policy.Improves, keepWeights);
        }

        public EarlyStoppingMetric Metric { get; }
        /// <summary>The best epoch so far; -1 before the first validated one.</summary>
        public int Epoch => Record?.Epoch ?? -1;
        /// <summary>The best epoch's record; null before the first validated one.</summary>
        public EpochRecord Record { get; private set; }
        /// <summary><see cref="Metric"/>'s value at the best epoch, oriented so that higher is better.</summary>
        public double Score => Record == null ? double.NaN : ScoreOf(Record, Metric);
        /// <summary>Whether <see cref="Restore"/> has weights to put back.</summary>
        public bool HasWeights => _weights != null;

        /// <summary>The watched value of an epoch, oriented so that higher is better (NaN if not validated).</summary>
        public static double ScoreOf(EpochRecord record, EarlyStoppingMetric metric)
            => metric == EarlyStoppingMetric.ValidationLoss
                ? -(record.ValidationLoss ?? double.NaN)
                : record.ValidationAccuracy ?? double.NaN;

        /// <summary>Takes <paramref name="record"/> as the best if it improves on it; returns whether it did.</summary>
        public bool Offer(EpochRecord record, nn.Module model)
        {
            if (Record != null && !_improves(record, Record))
                return false;
            Record = record;
            if (_keepWeights)
                KeepWeights(model);
            return true;
        }

        public void Restore(nn.Module model)
        {
            if (_weights == null)
                throw new InvalidOperationException("No best epoch's weights were kept.");
            model.load_state_dict(_weights, strict: true);
        }

        /// <summary>
        /// Writes, for a checkpoint, the kept tensors that differ from <paramref name="model"/>'s
        /// (<see cref="TensorDictionaryFormat"/>): what stayed frozen since the best epoch is stored once.
        /// </summary>
        public void WriteDifferences(System.IO.BinaryWriter writer, nn.Module model)
        {
            using var scope = NewDisposeScope();
            var current = model.state_dict();
            TensorDictionaryFormat.Write(writer, _weights
                .Where(kv => !kv.Value.equal(current[kv.Key]).all().item<bool>())
                .Select(kv => (kv.Key, kv.Value)));
        }

        /// <summary>
        /// The best epoch (<paramref name="record"/>) of a resumed run: <paramref name="model"/>'s weights, with the
        /// tensors that differed (read back from the checkpoint; owned from now on) in place; none kept when not asked
        /// to keep them.
        /// </summary>
        public void Resume(EpochRecord record, nn.Module model, Dictionary<string, Tensor> differing)
        {
            Record = record;
            DropWeights();
            if (_keepWeights && model != null)
            {
                KeepWeights(model);
                foreach (var (name, tensor) in differing ?? new Dictionary<string, Tensor>())
                {
                    if (!_weights.TryGetValue(name, out var kept))
                        throw new System.IO.InvalidDataException($"the best epoch's tensor '{name}' is not the " +
                            "network's");
                    kept.Dispose();
                    _weights[name] = tensor;
                }
                return;
            }
            if (differing != null)
                foreach (var t in differing.Values) t.Dispose();
        }

        public void Dispose() => DropWeights();

        private void KeepWeights(nn.Module model)
        {
            DropWeights();
            _weights = WeightCopies.Of(model);
        }

        private void DropWeights()
        {
            if (_weights != null)
                foreach (var t in _weights.Values) t.Dispose();
            _weights = null;
        }
    }
}

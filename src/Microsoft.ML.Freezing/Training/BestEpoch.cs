// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// The best validated epoch so far by one metric and, when asked to keep them, a copy of its weights. Early
    /// stopping, <see cref="FineTuneOptions.RestoreBestEpoch"/> and a thaw policy's restore request share it.
    /// </summary>
    internal sealed class BestEpoch : IDisposable
    {
        private readonly bool _keepWeights;
        private Dictionary<string, Tensor> _weights;

        public BestEpoch(EarlyStoppingMetric metric, double minDelta, bool keepWeights)
        {
            Metric = metric;
            MinDelta = minDelta;
            _keepWeights = keepWeights;
        }

        /// <summary>Early stopping's metric and threshold; else validation loss, any improvement counting.</summary>
        public static BestEpoch For(FineTuneOptions options, bool keepWeights)
            => new BestEpoch(options.EarlyStopping?.Metric ?? EarlyStoppingMetric.ValidationLoss,
                options.EarlyStopping?.MinDelta ?? 0, keepWeights);

        public EarlyStoppingMetric Metric { get; }
        public double MinDelta { get; }
        /// <summary>The best epoch so far; -1 before the first validated one.</summary>
        public int Epoch { get; private set; } = -1;
        public double Score { get; private set; }
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
            double score = ScoreOf(record, Metric);
            if (Epoch >= 0 && !(score > Score + MinDelta))
                return false;
            Epoch = record.Epoch;
            Score = score;
            if (_keepWeights)
                KeepWeights(model);
            return true;
        }

        public void Restore(nn.Module model)
        {
            if (_weights == null)
                throw new InvalidOperationException("No best epoch's weights were kept.");
            using var noGrad = no_grad();
            foreach (var (name, tensor) in model.state_dict())
                tensor.copy_(_weights[name]);
        }

        /// <summary>Writes the kept weights (<see cref="TensorDictionaryFormat"/>) for a checkpoint.</summary>
        public void WriteWeights(System.IO.BinaryWriter writer)
            => TensorDictionaryFormat.Write(writer, _weights.Select(kv => (kv.Key, kv.Value)));

        /// <summary>
        /// The best epoch of a resumed run: its weights as read back (owned from now on), or a copy of
        /// <paramref name="model"/>'s when it was the checkpoint's last epoch; none when not asked to keep them.
        /// </summary>
        public void Resume(int epoch, double score, Dictionary<string, Tensor> weights, nn.Module model)
        {
            Epoch = epoch;
            Score = score;
            DropWeights();
            if (_keepWeights && weights != null)
            {
                _weights = weights;
                return;
            }
            if (weights != null)
                foreach (var t in weights.Values) t.Dispose();
            if (_keepWeights && model != null)
                KeepWeights(model);
        }

        public void Dispose() => DropWeights();

        private void KeepWeights(nn.Module model)
        {
            DropWeights();
            _weights = model.state_dict()
                .ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone().DetachFromDisposeScope());
        }

        private void DropWeights()
        {
            if (_weights != null)
                foreach (var t in _weights.Values) t.Dispose();
            _weights = null;
        }
    }
}

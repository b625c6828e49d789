// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;

namespace Microsoft.ML.Freezing
{
    /// <summary>The range test's ramp and its smoothed losses.</summary>
    internal sealed class LossRecorder
    {
        private const double Beta = 0.98;
        private readonly LearningRateFinderOptions _options;
        private readonly List<double> _rates = new List<double>();
        private readonly List<double> _losses = new List<double>();
        private double _average;

        public LossRecorder(LearningRateFinderOptions options) => _options = options;

        /// <summary>The rate of step <paramref name="step"/> (0-based) of the exponential ramp.</summary>
        public double RateAt(long step)
        {
            double t = Math.Min(step, _options.Steps - 1) / (double)(_options.Steps - 1);
            return _options.StartLearningRate * Math.Pow(_options.EndLearningRate / _options.StartLearningRate, t);
        }

        /// <summary>Records a step's loss; false when the test should stop (diverged or all steps done).</summary>
        public bool Add(double loss)
        {
            if (!double.IsFinite(loss))
                return false;
            int step = _losses.Count;
            _average = Beta * _average + (1 - Beta) * loss;
            double smoothed = _average / (1 - Math.Pow(Beta, step + 1));
            _rates.Add(RateAt(step));
            _losses.Add(smoothed);
            bool diverged = step >= 10 && smoothed > _options.DivergenceFactor * _losses.Min();
            return !diverged && _losses.Count < _options.Steps;
        }

        public LearningRateFinderResult Result()
        {
            if (_losses.Count == 0)
                throw new InvalidOperationException("The range test recorded no loss.");
            int best = _losses.IndexOf(_losses.Min());
            double suggested = Math.Max(_rates[best] / 10, _options.StartLearningRate);
            string reason = $"range test over {_losses.Count} steps ({_rates[0]:G2} to {_rates[^1]:G2}): smoothed " +
                "loss " +
                $"lowest ({_losses[best]:F3}) at {_rates[best]:G2}; suggesting a tenth of it, {suggested:G2}";
            // fastai's rule assumes the loss turned up before the ramp's end; when it never did, the ramp was too
            // short to find where training breaks, and the suggestion is only a lower bound of it.
            if (best == _losses.Count - 1)
                reason += $" (the loss still fell at the ramp's end, {_rates[^1]:G2}: no rate tried was too high; a " +
                    "higher EndLearningRate looks further)";
            return new LearningRateFinderResult(_rates.ToArray(), _losses.ToArray(), suggested, reason);
        }
    }

    /// <summary>A fixed, evenly spread subset of a source (the range test's images), keeping each image's
    /// label.</summary>
    internal sealed class SubsetImageSource : IImageBatchSource
    {
        private readonly IImageBatchSource _source;
        private readonly int[] _indices;

        public SubsetImageSource(IImageBatchSource source, int count)
        {
            _source = source;
            int n = Math.Min(count, source.Count);
            _indices = Enumerable.Range(0, n).Select(i => (int)((long)i * source.Count / n)).ToArray();
        }

        public int Count => _indices.Length;
        public bool IsDeterministic => _source.IsDeterministic;
        public ImageBatch GetBatch(IReadOnlyList<int> indices)
            => _source.GetBatch(indices.Select(i => _indices[i]).ToArray());
        public IEnumerable<ImageBatch> GetBatches(int batchSize, Random shuffle)
            => ImageBatchSources.Batches(this, batchSize, shuffle);
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>Settings of the learning-rate range test (<see cref="LearningRateFinder"/>).</summary>
    public sealed class LearningRateFinderOptions
    {
        /// <summary>The first rate tried. Default 1e-6.</summary>
        public double StartLearningRate { get; set; } = 1e-6;
        /// <summary>The last rate tried. Default 1.</summary>
        public double EndLearningRate { get; set; } = 1;
        /// <summary>Optimizer steps, each at a rate <c>(End/Start)^(1/(Steps-1))</c> times the previous one. Default
        /// 100.</summary>
        public int Steps { get; set; } = 100;
        /// <summary>
        /// Images the steps cycle over, drawn evenly from the training data (fewer when the data has fewer): with a
        /// frozen prefix their activations are computed once and cached, so the test costs about one forward pass over
        /// them. Default 256.
        /// </summary>
        public int Images { get; set; } = 256;
        /// <summary>The test stops once the smoothed loss exceeds this multiple of its minimum. Default 4.</summary>
        public double DivergenceFactor { get; set; } = 4;
    }

    /// <summary>What a range test measured and the rate it suggests.</summary>
    /// <param name="LearningRates">The rate of each step.</param>
    /// <param name="Losses">Each step's training loss, exponentially smoothed (0.98, bias-corrected, as fastai
    /// does).</param>
    /// <param name="SuggestedLearningRate">The rate at the smoothed loss's minimum, divided by 10 (fastai's
    /// "minimum/10").</param>
    /// <param name="Reason">How the suggestion was found, for logs.</param>
    public sealed record LearningRateFinderResult(IReadOnlyList<double> LearningRates, IReadOnlyList<double> Losses,
        double SuggestedLearningRate, string Reason);

    /// <summary>
    /// Leslie Smith's learning-rate range test (fastai's <c>lr_find</c>): trains a few steps with the run's optimizer,
    /// mask and per-stage rates while the rate grows exponentially, records the loss, stops when it diverges, and puts
    /// the network's weights back as they were.
    /// </summary>
    public static class LearningRateFinder
    {
        /// <summary>Runs the test on <paramref name="model"/> with the settings of
        /// <paramref name="options"/>.</summary>
        /// <param name="model">The network; its weights are restored afterwards.</param>
        /// <param name="train">The training data.</param>
        /// <param name="options">The run's settings: optimizer, freeze mask (at epoch 0), per-stage rates, batch
        /// size.</param>
        /// <param name="finder">The test's own settings; null for the defaults.</param>
        public static LearningRateFinderResult Run(ResNet model, IImageBatchSource train, FineTuneOptions options,
            LearningRateFinderOptions finder = null)
        {
            if (model is null) throw new ArgumentNullException(nameof(model));
            if (train is null || train.Count == 0) throw new ArgumentException("The training set is empty.",
                nameof(train));
            if (options is null) throw new ArgumentNullException(nameof(options));
            finder ??= new LearningRateFinderOptions();
            Validate(finder);
            var recorder = new LossRecorder(finder);
            var snapshot = Snapshot(model);
            try
            {
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(options.CancellationToken);
                var subset = new SubsetImageSource(train, finder.Images);
                using var tuner = new FineTuner(model, RampOptions(options, finder, subset.Count, recorder, stop));
                try
                {
                    tuner.Fit(subset);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested
                    && !options.CancellationToken.IsCancellationRequested)
                {
                    // The loss diverged: the test is over.
                }
                catch (ArithmeticException)
                {
                    // A non-finite loss: the same.
                }
            }
            finally
            {
                Restore(model, snapshot);
            }
            return recorder.Result();
        }

        private static void Validate(LearningRateFinderOptions finder)
        {
            if (!(finder.StartLearningRate > 0) || !(finder.EndLearningRate > finder.StartLearningRate))
                throw new ArgumentOutOfRangeException(nameof(finder), "The rates must satisfy 0 < start < end.");
            if (finder.Steps < 10)
                throw new ArgumentOutOfRangeException(nameof(finder), "A range test takes at least 10 steps.");
            if (finder.Images < 1 || !(finder.DivergenceFactor > 1))
                throw new ArgumentOutOfRangeException(nameof(finder),
                    "Images must be positive and DivergenceFactor over 1.");
        }

        // The run's optimizer, mask and stage rates; no thawing, validation or early stopping; the rate a ramp.
        private static FineTuneOptions RampOptions(FineTuneOptions options, LearningRateFinderOptions finder,
            int images,
            LossRecorder recorder, CancellationTokenSource stop)
        {
            var ramp = options with { };
            int batchesPerEpoch = (images + options.BatchSize - 1) / options.BatchSize;
            ramp.Epochs = (finder.Steps + batchesPerEpoch - 1) / batchesPerEpoch;
            ramp.LearningRate = 1; // the factor is the rate; stage multipliers still apply
            ramp.LearningRateFactorOverride = (step, _) => recorder.RateAt(step);
            ramp.Unfreezing = UnfreezeSchedule.None;
            ramp.EarlyStopping = null;
            ramp.RestoreBestEpoch = false;
            ramp.ThawWarmupFraction = 0;
            ramp.CheckpointFolder = null; // nothing of the ramp is worth resuming
            ramp.EpochCallback = null;
            ramp.CancellationToken = stop.Token;
            ramp.BatchCallback = progress =>
            {
                if (!recorder.Add(progress.Loss))
                    stop.Cancel();
            };
            return ramp;
        }

        private static Dictionary<string, Tensor> Snapshot(ResNet model)
            => WeightCopies.Of(model);

        private static void Restore(ResNet model, Dictionary<string, Tensor> snapshot)
        {
            model.load_state_dict(snapshot, strict: true);
            foreach (var tensor in snapshot.Values)
                tensor.Dispose();
        }
    }
}

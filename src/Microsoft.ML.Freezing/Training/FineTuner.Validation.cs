// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    // Validation inside Fit. Stages below the freeze boundary did not change, so their outputs on the validation images
    // are computed on the first validation pass and read back while the boundary holds (a second activation cache,
    // kept by the same rules as the training one). Everything runs folded in eval mode, as Evaluate does.
    public sealed partial class FineTuner
    {
        /// <summary>The epoch's validation loss and accuracy, and the cached stage output it started from.</summary>
        private (EvaluationResult? Result, ResNetStage? Boundary) Validate(EpochPlan plan, FitRun run)
        {
            var cache = run.ValidationCache;
            var (boundary, fill) = PlanCache(plan.Epoch, plan.FirstTrainable, cache);
            var from = boundary.HasValue ? boundary.Value + 1 : ResNetStage.Stem;
            var result = InEvalMode(() =>
            {
                using var folded = Model.Fold(from, ResNetStage.Head, InferencePrecision.Float32, _options.Log);
                var totals = new ScoreTotals();
                foreach (var indices in ImageBatchSources.BatchIndices(run.Validation.Count, _options.BatchSize, null))
                {
                    using var scope = NewDisposeScope();
                    using var images = boundary.HasValue ? null : run.Validation.GetBatch(indices);
                    var (logits, labels) = boundary is ResNetStage stored
                        ? ValidateFromCache(folded, cache, stored, indices)
                        : ValidateFromImages(folded, images, indices, cache, fill);
                    totals.Add(logits, labels);
                }
                return totals.Result;
            });
            PeakActivationCacheBytes = Math.Max(PeakActivationCacheBytes, run.CacheMemoryBytes);
            return (result, boundary);
        }

        private (Tensor Logits, Tensor Labels) ValidateFromCache(FoldedResNet folded, ActivationCache cache,
            ResNetStage stored, int[] indices)
        {
            var hidden = cache.Get(stored, indices).to(_device);
            return (ForwardValidation(folded, stored + 1, hidden, indices.Length), cache.Labels(indices).to(_device));
        }

        // Every stage from the images; the outputs the cache wants on the way are stored.
        private (Tensor Logits, Tensor Labels) ValidateFromImages(FoldedResNet folded, ImageBatch batch,
            int[] indices, ActivationCache cache, ISet<ResNetStage> fill)
        {
            var hidden = batch.Images.to(_device);
            for (var stage = ResNetStage.Stem; stage < ResNetStage.Head; stage++)
            {
                hidden = ForwardValidation(folded, stage, hidden, indices.Length, through: stage);
                if (fill.Contains(stage) && !cache.Put(stage, indices, hidden, batch.Labels))
                    fill.Remove(stage);
            }
            return (ForwardValidation(folded, ResNetStage.Head, hidden, indices.Length), batch.Labels.to(_device));
        }

        // Stages from..through (default: the head) of the folded snapshot, counted.
        private Tensor ForwardValidation(FoldedResNet folded, ResNetStage from, Tensor hidden, int count,
            ResNetStage through = ResNetStage.Head)
        {
            for (var stage = from; stage <= through; stage++)
                _validationStageForwards[stage] += count;
            return folded.Forward(hidden, from, through);
        }

        /// <summary>Runs <paramref name="evaluate"/> in eval mode under no_grad, then restores the modes.</summary>
        private T InEvalMode<T>(Func<T> evaluate)
        {
            bool wasTraining = Model.training;
            Model.eval();
            try
            {
                using var noGrad = no_grad();
                return evaluate();
            }
            finally
            {
                Model.train(wasTraining);
                if (wasTraining) ApplyBatchNormModes();
            }
        }

        /// <summary>Sums of loss and hits over evaluation batches.</summary>
        private sealed class ScoreTotals
        {
            private double _lossSum;
            private double _lossSquareSum;
            private long _correct;
            private long _seen;

            private readonly List<float> _losses = new List<float>();

            public EvaluationResult Result => new EvaluationResult(_seen == 0 ? double.NaN : _lossSum / _seen,
                _seen == 0 ? double.NaN : (double)_correct / _seen, _seen)
            {
                LossStandardError = StandardError, Losses = _losses.ToArray(),
            };

            private double StandardError
            {
                get
                {
                    if (_seen < 2) return double.NaN;
                    double mean = _lossSum / _seen;
                    double variance = Math.Max(0, (_lossSquareSum - _seen * mean * mean) / (_seen - 1));
                    return Math.Sqrt(variance / _seen);
                }
            }

            public void Add(Tensor logits, Tensor labels)
            {
                long count = labels.shape[0];
                _lossSum += nn.functional.cross_entropy(logits, labels).item<float>() * count;
                using (var each = nn.functional.cross_entropy(logits, labels, reduction: nn.Reduction.None))
                using (var squares = each.Squared())
                using (var values = each.cpu())
                {
                    _lossSquareSum += squares.sum().item<float>();
                    _losses.AddRange(values.data<float>().ToArray());
                }
                _correct += logits.argmax(1).eq(labels).sum().item<long>();
                _seen += count;
            }
        }
    }
}

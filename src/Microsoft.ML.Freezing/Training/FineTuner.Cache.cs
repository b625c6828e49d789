// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;

namespace Microsoft.ML.Freezing
{
    // The frozen prefix: folded for an epoch, or its outputs cached across epochs.
    //
    // With a planned policy the loop knows every boundary the run will reach, so the first pass through the images
    // fills them all. A reactive policy's future is unknown: the cache holds the current boundary only, and an epoch
    // that moves the boundary (a thaw, or a re-freeze) runs the prefix from the images and fills the new boundary on
    // the way. A restore of the best epoch's weights empties the cache. Validation keeps a second cache by the same
    // rules (FineTuner.Validation.cs).
    public sealed partial class FineTuner
    {
        /// <summary>
        /// The run's state: its training cache, and a validation cache under the same memory cap (each null when it
        /// cannot be used, with the reason logged).
        /// </summary>
        private FitRun StartRun(IImageBatchSource train, IImageBatchSource validation)
        {
            var validated = validation != null && validation.Count > 0 ? validation : null;
            var epochs = _options.HorizontalFlip ? new FlipPairSource(train) : train;
            ActivationCache validationCache = null;
            var cache = CreateCache(epochs, "Activation cache", () => validationCache?.MemoryBytes ?? 0);
            validationCache = validated == null ? null
                : CreateCache(validated, "Validation activation cache", () => cache?.MemoryBytes ?? 0);
            return FitRun.Create(train, epochs, validated, cache, validationCache, _options);
        }

        /// <summary>A cache for <paramref name="source"/>, or null (the reason logged) when it cannot be
        /// used.</summary>
        private ActivationCache CreateCache(IImageBatchSource source, string name, Func<long> sharedBytes)
        {
            string off = !_options.UseActivationCache ? "disabled by the options"
                : _options.BatchNorm != BatchNormPolicy.Frozen
                    ? $"BatchNorm policy {_options.BatchNorm} lets gradients or statistics reach frozen stages"
                : !source.IsDeterministic ? "augmentation changes the images every epoch"
                : Plan != null && !Plan.Any(m => LowestStageLeftTrainableBy(m) > ResNetStage.Stem)
                    ? "no epoch has a frozen prefix"
                : null;
            if (off != null)
            {
                _options.Log?.Invoke($"{name} off: {off}.");
                return null;
            }
            return new ActivationCache(source.Count, _options.ActivationCacheMemoryLimit,
                _options.ActivationCacheFolder ?? System.IO.Path.GetTempPath(), _options.Log, name, sharedBytes);
        }

        /// <summary>
        /// The stage output an epoch reads (when complete), else the outputs it stores on its way; drops outputs no
        /// longer needed.
        /// </summary>
        private (ResNetStage? Boundary, HashSet<ResNetStage> Fill) PlanCache(int epoch, ResNetStage first,
            ActivationCache cache)
        {
            var fill = new HashSet<ResNetStage>();
            if (cache == null)
                return (null, fill);
            var needed = CacheOutputsNeeded(epoch);
            cache.Retain(needed);
            if (first > ResNetStage.Stem && needed.Contains(first - 1) && cache.IsComplete(first - 1))
                return (first - 1, fill);
            fill.UnionWith(needed.Where(s => s < first && !cache.IsComplete(s)));
            return (null, fill);
        }

        /// <summary>
        /// Stage outputs worth keeping at <paramref name="epoch"/>: the input of a later (or this) epoch's first
        /// trainable stage, provided nothing at or below that output trains in between (else it would go stale).
        /// Without a plan, only this epoch's mask is known.
        /// </summary>
        private HashSet<ResNetStage> CacheOutputsNeeded(int epoch)
        {
            var masks = Plan != null ? Plan.Skip(epoch) : new[] { CurrentMask };
            var needed = new HashSet<ResNetStage>();
            var lowestSoFar = ResNetStage.Head;
            foreach (var mask in masks)
            {
                var first = LowestStageLeftTrainableBy(mask);
                if (first < lowestSoFar) lowestSoFar = first;
                // Valid only if every epoch from `epoch` to this one keeps stages up to first-1 frozen.
                if (first > ResNetStage.Stem && first - 1 < lowestSoFar)
                    needed.Add(first - 1);
            }
            return needed;
        }

        /// <summary>
        /// The epoch's frozen prefix (see <see cref="FrozenPrefix"/> for the route it takes), or null when nothing is
        /// frozen below the first trainable stage. <paramref name="passImages"/>: the images the epoch runs it on.
        /// </summary>
        private FrozenPrefix CreatePrefix(EpochPlan plan, int passImages)
        {
            var first = plan.FirstTrainable;
            if (first == ResNetStage.Stem)
                return null;
            if (_options.FrozenPrefixPrecision == InferencePrecision.BFloat16)
                _options.Log?.Invoke($"Epoch {plan.Epoch}: the frozen prefix " +
                    $"({ResNetStage.Stem.Name()}..{(first - 1).Name()}) runs in bfloat16.");
            return FrozenPrefix.Create(Model, first, _options.FrozenPrefixPrecision, _options.FrozenPrefixEngine,
                passImages, plan.Fill.ToArray(), _options.Log);
        }

        // With the Frozen BatchNorm policy, the lowest stage that has a parameter the mask leaves trainable.
        private ResNetStage LowestStageLeftTrainableBy(FreezeMask mask)
            => _parameterNames.Where(n => !mask.IsFrozen(n)).Select(ResNetStages.OfParameter)
                .DefaultIfEmpty(ResNetStage.Head).Min();
    }
}

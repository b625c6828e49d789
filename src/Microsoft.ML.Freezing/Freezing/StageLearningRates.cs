// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Discriminative (per-stage) learning rates: stage k (Head = 0 ... Stem = 5) gets lr / decay^k, and an explicit
    /// multiplier replaces the decay for the stages it names (rate = lr × multiplier).
    /// </summary>
    public static class StageLearningRates
    {
        /// <summary>The base rate of every stage.</summary>
        /// <param name="learningRate">The head's rate.</param>
        /// <param name="decay">ULMFiT's 2.6, or 1 for one rate everywhere.</param>
        /// <param name="multipliers">Per-stage overrides; may be null.</param>
        public static IReadOnlyDictionary<ResNetStage, double> Compute(double learningRate, double decay = 1,
            IReadOnlyDictionary<ResNetStage, double> multipliers = null)
        {
            if (!(learningRate > 0)) throw new ArgumentOutOfRangeException(nameof(learningRate),
                "The learning rate must be positive.");
            if (!(decay > 0)) throw new ArgumentOutOfRangeException(nameof(decay),
                "The layer learning-rate decay must be positive (1 = off).");
            if (multipliers != null && multipliers.Any(kv => !(kv.Value >= 0)))
                throw new ArgumentOutOfRangeException(nameof(multipliers),
                    "Stage learning-rate multipliers cannot be negative.");
            return ResNetStages.All.ToDictionary(s => s, s =>
                multipliers != null && multipliers.TryGetValue(s, out var m) ? learningRate * m
                    : learningRate / Math.Pow(decay, s.DepthFromHead()));
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// The shape of the learning rate over the whole run, applied to every parameter group on top of its own base rate
    /// (we compute it ourselves: TorchSharp's OneCycleLR is wrong with several parameter groups).
    /// </summary>
    public enum LearningRateSchedule
    {
        /// <summary>The base rate throughout.</summary>
        Constant,
        /// <summary>Cosine annealing from the base rate to 0.</summary>
        Cosine,
        /// <summary>One-cycle (PyTorch defaults): 30% cosine warm-up from rate/25, then cosine down to
        /// rate/(25·10⁴).</summary>
        OneCycle,
        /// <summary>ULMFiT's slanted triangle: linear rise over 10% of the steps from rate/32, then linear decay
        /// back.</summary>
        SlantedTriangular,
    }

    /// <summary>The factor each schedule applies to a base rate.</summary>
    public static class LearningRateSchedules
    {
        /// <summary>The factor at optimizer step <paramref name="step"/> (0-based) of
        /// <paramref name="totalSteps"/>.</summary>
        public static double Factor(this LearningRateSchedule schedule, long step, long totalSteps)
        {
            if (totalSteps <= 0) return 1;
            double t = Math.Clamp((double)step / totalSteps, 0, 1);
            switch (schedule)
            {
                case LearningRateSchedule.Constant:
                    return 1;
                case LearningRateSchedule.Cosine:
                    return 0.5 * (1 + Math.Cos(Math.PI * t));
                case LearningRateSchedule.OneCycle:
                    const double pctStart = 0.3, initial = 1 / 25.0, final = 1 / 25.0 / 1e4;
                    return t < pctStart
                        ? CosineBetween(initial, 1, t / pctStart)
                        : CosineBetween(1, final, (t - pctStart) / (1 - pctStart));
                case LearningRateSchedule.SlantedTriangular:
                    const double cutFraction = 0.1, ratio = 32;
                    double p = t < cutFraction ? t / cutFraction : 1 - (t - cutFraction) / (1 - cutFraction);
                    return (1 + p * (ratio - 1)) / ratio;
                default:
                    throw new ArgumentOutOfRangeException(nameof(schedule), schedule,
                        "Unknown learning-rate schedule.");
            }
        }

        private static double CosineBetween(double from, double to, double t)
            => to + (from - to) * 0.5 * (1 + Math.Cos(Math.PI * t));
    }
}

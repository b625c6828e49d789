// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;

namespace Microsoft.ML.Freezing
{
    /// <summary>The validation metric that early stopping watches.</summary>
    public enum EarlyStoppingMetric
    {
        /// <summary>Lower is better.</summary>
        ValidationLoss,
        /// <summary>Higher is better.</summary>
        ValidationAccuracy,
    }

    /// <summary>
    /// Stops training when the validation metric has not improved for <see cref="Patience"/> epochs, and restores the
    /// weights of the best epoch. Needs a validation set.
    /// </summary>
    public sealed class EarlyStopping
    {
        /// <summary>Creates the rule.</summary>
        /// <param name="patience">Epochs without improvement before stopping (at least 1).</param>
        /// <param name="metric">What to watch. Default validation loss.</param>
        /// <param name="minDelta">Smallest change that counts as an improvement. Default 0.</param>
        public EarlyStopping(int patience = 3, EarlyStoppingMetric metric = EarlyStoppingMetric.ValidationLoss,
            double minDelta = 0)
        {
            if (patience < 1) throw new ArgumentOutOfRangeException(nameof(patience),
                "Patience is at least one epoch.");
            if (minDelta < 0) throw new ArgumentOutOfRangeException(nameof(minDelta),
                "The minimum improvement cannot be negative.");
            Patience = patience;
            Metric = metric;
            MinDelta = minDelta;
        }

        /// <summary>Epochs without improvement before stopping.</summary>
        public int Patience { get; }
        /// <summary>What is watched.</summary>
        public EarlyStoppingMetric Metric { get; }
        /// <summary>Smallest change that counts as an improvement.</summary>
        public double MinDelta { get; }

        /// <inheritdoc/>
        public override string ToString()
            => $"early stopping on {Metric} (patience {Patience}, min delta {MinDelta:g})";
    }
}

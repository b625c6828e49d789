// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// One epoch of a FrozenResNet training run: the engine's <see cref="EpochRecord"/> and what the ML.NET trainer
    /// knows beyond it (the rows it left out while reading its inputs).
    /// </summary>
    public sealed class FrozenResNetEpoch
    {
        internal FrozenResNetEpoch(EpochRecord record, int skippedInvalidImages)
        {
            Record = record;
            SkippedInvalidImages = skippedInvalidImages;
        }

        /// <summary>The engine's record of the epoch: frozen stages, learning rates, losses, timing.</summary>
        public EpochRecord Record { get; }

        /// <summary>
        /// Rows left out of the run (training and validation data) because their image could not be read, with
        /// <see cref="InvalidImagePolicy.Skip"/>; counted once when the data is read, so every epoch of one run carries
        /// the same count. 0 otherwise.
        /// </summary>
        public int SkippedInvalidImages { get; }

        /// <inheritdoc/>
        public override string ToString()
            => SkippedInvalidImages == 0 ? Record.ToString()
                : $"{Record}; {SkippedInvalidImages} rows with invalid images skipped";
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// A training source seen as pairs (<see cref="FineTuneSettings.HorizontalFlip"/>): example <c>i</c> of the inner
    /// source is index <c>i</c>, its mirror image index <c>i + N</c>. Both are deterministic, so the activation cache
    /// stores both at the freeze boundary on its first pass, and an epoch that draws one of each pair per image reads
    /// its flips from the cache instead of recomputing the frozen prefix.
    /// </summary>
    internal sealed class FlipPairSource : IImageBatchSource, IEpochSeededSource
    {
        private readonly IImageBatchSource _inner;

        public FlipPairSource(IImageBatchSource inner)
        {
            _inner = inner ?? throw new ArgumentNullException(nameof(inner));
        }

        /// <summary>Images in the inner source.</summary>
        public int Images => _inner.Count;

        /// <inheritdoc/>
        public int Count => 2 * _inner.Count;

        /// <inheritdoc/>
        public bool IsDeterministic => _inner.IsDeterministic;

        /// <inheritdoc/>
        public ImageBatch GetBatch(IReadOnlyList<int> indices)
        {
            using var batch = _inner.GetBatch(indices.Select(i => i % Images).ToArray());
            using var scope = NewDisposeScope();
            var flipped = tensor(indices.Select(i => i >= Images).ToArray()).view(-1, 1, 1, 1);
            // [N, 3, H, W]: the last dimension is the width. Per-channel normalisation commutes with the flip.
            var images = where(flipped, batch.Images.flip(3), batch.Images).MoveToOuterDisposeScope();
            return new ImageBatch(images, batch.Labels?.clone().MoveToOuterDisposeScope());
        }

        /// <inheritdoc/>
        public IEnumerable<ImageBatch> GetBatches(int batchSize, Random shuffle)
            => ImageBatchSources.Batches(this, batchSize, shuffle);

        /// <summary>
        /// The indices of one epoch: the images in the order of <paramref name="shuffle"/> (null: in order), each
        /// mirrored with probability 0.5, drawn from the run's seed and the epoch alone.
        /// </summary>
        public IEnumerable<int[]> EpochBatches(int batchSize, Random shuffle, int seed, int epoch)
        {
            var mirror = new Random(EpochSeeds.Of(seed, epoch) ^ 0x5F11B);
            var draws = Enumerable.Range(0, Images).Select(_ => mirror.Next(2) == 1).ToArray();
            return ImageBatchSources.TrainingBatchIndices(Images, batchSize, shuffle)
                .Select(batch => batch.Select(i => draws[i] ? i + Images : i).ToArray());
        }

        void IEpochSeededSource.StartEpoch(int epoch) => (_inner as IEpochSeededSource)?.StartEpoch(epoch);
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>A batch of preprocessed images [N, 3, H, W] (float32) and class indices [N] (int64). Owns both
    /// tensors.</summary>
    public sealed class ImageBatch : IDisposable
    {
        /// <summary>Takes ownership of the tensors.</summary>
        public ImageBatch(Tensor images, Tensor labels)
        {
            Images = images ?? throw new ArgumentNullException(nameof(images));
            Labels = labels;
        }

        /// <summary>Images, [N, 3, H, W] float32, already normalised by the model's preprocessing.</summary>
        public Tensor Images { get; }
        /// <summary>Class indices [N] int64; null for unlabelled data.</summary>
        public Tensor Labels { get; }
        /// <summary>Number of images.</summary>
        public long Count => Images.shape[0];

        /// <inheritdoc/>
        public void Dispose()
        {
            Images.Dispose();
            Labels?.Dispose();
        }
    }

    /// <summary>Where the fine-tuner reads its examples from.</summary>
    public interface IImageBatchSource
    {
        /// <summary>Number of examples.</summary>
        int Count { get; }

        /// <summary>
        /// Whether an example gives the same tensor every time (no augmentation), so that activations computed from it
        /// can be cached.
        /// </summary>
        bool IsDeterministic { get; }

        /// <summary>The examples at <paramref name="indices"/>, in that order, as one batch. The caller disposes
        /// it.</summary>
        ImageBatch GetBatch(IReadOnlyList<int> indices);

        /// <summary>
        /// The examples in batches of at most <paramref name="batchSize"/>, shuffled with <paramref name="shuffle"/>
        /// when it is not null. The caller disposes each batch.
        /// </summary>
        IEnumerable<ImageBatch> GetBatches(int batchSize, Random shuffle);
    }

    /// <summary>The batching shared by every source.</summary>
    public static class ImageBatchSources
    {
        /// <summary>
        /// The example indices 0..count-1 in batches, shuffled with <paramref name="shuffle"/> (Fisher-Yates over the
        /// whole epoch) when it is not null.
        /// </summary>
        public static IEnumerable<int[]> BatchIndices(int count, int batchSize, Random shuffle)
        {
            // Checked here, not on first enumeration.
            if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize,
                "The batch size must be at least 1.");
            return Slices(count, batchSize, shuffle);
        }

        /// <summary>
        /// The batches a training epoch takes: <see cref="BatchIndices"/>, except that a last batch of one image joins
        /// the batch before it. A BatchNorm in training mode cannot normalise one value per channel (a single image
        /// whose map is 1x1, layer4 below 64 px): libtorch's running variance becomes NaN.
        /// </summary>
        internal static IEnumerable<int[]> TrainingBatchIndices(int count, int batchSize, Random shuffle)
        {
            var batches = BatchIndices(count, batchSize, shuffle).ToList();
            if (batches.Count > 1 && batches[^1].Length == 1)
            {
                batches[^2] = batches[^2].Concat(batches[^1]).ToArray();
                batches.RemoveAt(batches.Count - 1);
            }
            return batches;
        }

        /// <summary>How many batches <see cref="TrainingBatchIndices"/> gives.</summary>
        internal static int TrainingBatchCount(int count, int batchSize)
            => count > batchSize && count % batchSize == 1 ? count / batchSize : (count + batchSize - 1) / batchSize;

        private static IEnumerable<int[]> Slices(int count, int batchSize, Random shuffle)
        {
            var order = Enumerable.Range(0, count).ToArray();
            shuffle?.Shuffle(order);
            for (int start = 0; start < order.Length; start += batchSize)
                yield return order.AsSpan(start, Math.Min(batchSize, order.Length - start)).ToArray();
        }

        /// <summary>Batches of <paramref name="source"/> in the order of <see cref="BatchIndices"/>.</summary>
        public static IEnumerable<ImageBatch> Batches(IImageBatchSource source, int batchSize, Random shuffle)
            => BatchIndices(source.Count, batchSize, shuffle).Select(source.GetBatch);
    }

    /// <summary>An in-memory source over an image tensor [N, 3, H, W] and a label tensor [N].</summary>
    public sealed class TensorImageSource : IImageBatchSource, IDisposable
    {
        private readonly Tensor _images;
        private readonly Tensor _labels;

        /// <summary>Keeps its own references to the tensors; dispose this source to release them.</summary>
        public TensorImageSource(Tensor images, Tensor labels)
        {
            if (images is null) throw new ArgumentNullException(nameof(images));
            if (images.dim() != 4 || images.shape[1] != 3)
                throw new ArgumentException($"Images must be [N, 3, H, W]; got [{string.Join(", ", images.shape)}].",
                    nameof(images));
            if (labels is not null && (labels.dim() != 1 || labels.shape[0] != images.shape[0]))
                throw new ArgumentException(
                    $"Labels must be [{images.shape[0]}]; got [{string.Join(", ", labels.shape)}].", nameof(labels));
            _images = images.alias().DetachFromDisposeScope();
            _labels = labels?.to_type(ScalarType.Int64).DetachFromDisposeScope();
        }

        /// <inheritdoc/>
        public int Count => (int)_images.shape[0];

        /// <inheritdoc/>
        public bool IsDeterministic => true;

        /// <inheritdoc/>
        public ImageBatch GetBatch(IReadOnlyList<int> indices)
        {
            using var index = tensor(indices.Select(i => (long)i).ToArray());
            return new ImageBatch(_images.index_select(0, index), _labels?.index_select(0, index));
        }

        /// <inheritdoc/>
        public IEnumerable<ImageBatch> GetBatches(int batchSize, Random shuffle)
            => ImageBatchSources.Batches(this, batchSize, shuffle);

        /// <inheritdoc/>
        public void Dispose()
        {
            _images.Dispose();
            _labels?.Dispose();
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using System.Security.Cryptography;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Training examples held as decoded, resized RGB bytes (H x W x 3 at the preprocessing's size: a quarter of the
    /// memory of float tensors). Each batch is stacked, augmented when asked, and normalised on the way out.
    /// </summary>
    /// <remarks>
    /// Fill it with <see cref="Add(byte[], int)"/> (labelled) or <see cref="Add(byte[])"/> (unlabelled), for example
    /// from <see cref="ImagePreprocessing.DecodeAndResize"/>; a source holds one kind or the other. The augmentation
    /// generator is seeded once and continues across calls to <see cref="GetBatches"/>, so every epoch sees new crops
    /// while the same seed and the same sequence of calls give the same batches. The fine-tuner reseeds it at every
    /// epoch from the seed and the epoch, so that a run resumed from a checkpoint draws the crops of the
    /// uninterrupted run.
    /// </remarks>
    public sealed class DecodedImageSource : IImageBatchSource, IFingerprintedSource, IEpochSeededSource
    {
        private readonly List<byte[]> _images = new List<byte[]>();
        private readonly List<int> _labels = new List<int>();
        private Random _augmentationRandom;
        private readonly int _imageBytes;

        /// <summary>Creates an empty source.</summary>
        /// <param name="preprocessing">The model's preprocessing; gives the image size and the normalisation.</param>
        /// <param name="augmentation">What to do to the images of each batch. Default none.</param>
        /// <param name="augmentationSeed">Seed of the augmentation's own generator.</param>
        public DecodedImageSource(ImagePreprocessing preprocessing,
            ImageAugmentation augmentation = ImageAugmentation.None, int augmentationSeed = 0)
        {
            Preprocessing = preprocessing ?? throw new ArgumentNullException(nameof(preprocessing));
            if (!Enum.IsDefined(augmentation))
                throw new ArgumentOutOfRangeException(nameof(augmentation), augmentation, "Unknown augmentation.");
            Augmentation = augmentation;
            AugmentationSeed = augmentationSeed;
            _augmentationRandom = new Random(augmentationSeed);
            _imageBytes = preprocessing.ImageSize * preprocessing.ImageSize * 3;
        }

        /// <summary>The preprocessing the images were made with and are normalised by.</summary>
        public ImagePreprocessing Preprocessing { get; }
        /// <summary>The augmentation applied to every batch.</summary>
        public ImageAugmentation Augmentation { get; }
        /// <summary>Seed of the augmentation generator.</summary>
        public int AugmentationSeed { get; }
        /// <summary>Whether the examples carry labels (false while empty or unlabelled).</summary>
        public bool HasLabels => _images.Count > 0 && _labels.Count == _images.Count;

        /// <inheritdoc/>
        public int Count => _images.Count;

        /// <summary>Adds a labelled image: RGB bytes, ImageSize x ImageSize x 3. The source keeps the array; don't
        /// change it.</summary>
        public void Add(byte[] rgb, int label)
        {
            if (label < 0)
                throw new ArgumentOutOfRangeException(nameof(label), label, "A class index cannot be negative.");
            if (_images.Count > 0 && !HasLabels)
                throw new InvalidOperationException(
                    "This source holds unlabelled images; it cannot take labelled ones.");
            Check(rgb);
            _images.Add(rgb);
            _labels.Add(label);
        }

        /// <summary>Adds an unlabelled image: RGB bytes, ImageSize x ImageSize x 3. The source keeps the array; don't
        /// change it.</summary>
        public void Add(byte[] rgb)
        {
            if (HasLabels)
                throw new InvalidOperationException("This source holds labelled images; add this one with its label.");
            Check(rgb);
            _images.Add(rgb);
        }

        /// <inheritdoc/>
        public bool IsDeterministic => Augmentation == ImageAugmentation.None;

        /// <inheritdoc/>
        public IEnumerable<ImageBatch> GetBatches(int batchSize, Random shuffle)
            => ImageBatchSources.Batches(this, batchSize, shuffle);

        /// <inheritdoc/>
        public ImageBatch GetBatch(IReadOnlyList<int> indices)
        {
            Tensor labels = null;
            if (HasLabels)
            {
                var values = new long[indices.Count];
                for (int i = 0; i < indices.Count; i++)
                    values[i] = _labels[indices[i]];
                labels = tensor(values, int64);
            }
            var images = indices.Select(i => _images[i]).ToList();
            if (Augmentation == ImageAugmentation.None)
                return new ImageBatch(Preprocessing.NormalizeImages(images), labels);
            using var scope = NewDisposeScope();
            var pixels = empty(new long[] { indices.Count, Preprocessing.ImageSize, Preprocessing.ImageSize, 3 },
                ScalarType.Byte);
            var target = pixels.bytes;
            for (int i = 0; i < images.Count; i++)
                images[i].CopyTo(target.Slice(i * _imageBytes, _imageBytes));
            pixels = ImageAugmenter.Apply(pixels, Augmentation, _augmentationRandom);
            return new ImageBatch(Preprocessing.Normalize(pixels).MoveToOuterDisposeScope(), labels);
        }

        void IEpochSeededSource.StartEpoch(int epoch)
            => _augmentationRandom = new Random(EpochSeeds.Of(AugmentationSeed, epoch));

        // The decoded bytes and labels as they are: no normalisation, no augmentation drawn.
        void IFingerprintedSource.AddFingerprint(IncrementalHash hash)
        {
            hash.AppendData(BitConverter.GetBytes(_images.Count));
            foreach (var image in _images)
                hash.AppendData(image);
            foreach (int label in _labels)
                hash.AppendData(BitConverter.GetBytes(label));
        }

        private void Check(byte[] rgb)
        {
            if (rgb is null) throw new ArgumentNullException(nameof(rgb));
            if (rgb.Length != _imageBytes)
                throw new ArgumentException(
                    $"An image must be {Preprocessing.ImageSize}x{Preprocessing.ImageSize}x3 = {_imageBytes} RGB " +
                    $"bytes; got {rgb.Length}.", nameof(rgb));
        }
    }
}

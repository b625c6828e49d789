// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Runs a network on a batch of preprocessed images: stacks their RGB bytes, normalises them as the preprocessing
    /// says, runs a forward function on the device and splits its [batch, width] output into one array per image.
    /// One forward pass at a time: PredictionEngines and cursors on several threads share the module.
    /// </summary>
    internal sealed class ImageBatchRunner
    {
        private readonly object _lock = new object();

        public ImageBatchRunner(ResNet network, ImagePreprocessing preprocessing, ComputeDevice device)
        {
            Network = network ?? throw new ArgumentNullException(nameof(network));
            Preprocessing = preprocessing ?? throw new ArgumentNullException(nameof(preprocessing));
            Device = device;
        }

        public ResNet Network { get; }
        public ImagePreprocessing Preprocessing { get; }
        public ComputeDevice Device { get; }

        /// <summary>
        /// <paramref name="forward"/>'s output for <paramref name="rgbImages"/> (RGB bytes as
        /// <see cref="ImagePreprocessing"/> produces), one row per image.
        /// </summary>
        public float[][] Run(IReadOnlyList<byte[]> rgbImages, Func<Tensor, Tensor> forward)
        {
            if (rgbImages.Count == 0)
                return Array.Empty<float[]>();
            var flat = Stack(rgbImages);
            int side = Preprocessing.ImageSize;
            float[] values;
            lock (_lock)
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                var bytes = tensor(flat, new long[] { rgbImages.Count, side, side, 3 });
                var images = Preprocessing.Normalize(bytes).to(Device == ComputeDevice.Cuda ? CUDA : CPU);
                values = forward(images).flatten(1).cpu().data<float>().ToArray();
            }
            return Split(values, rgbImages.Count);
        }

        private byte[] Stack(IReadOnlyList<byte[]> rgbImages)
        {
            int side = Preprocessing.ImageSize;
            int imageBytes = side * side * 3;
            var flat = new byte[rgbImages.Count * imageBytes];
            for (int i = 0; i < rgbImages.Count; i++)
            {
                if (rgbImages[i] is null || rgbImages[i].Length != imageBytes)
                    throw new ArgumentException($"Image {i} must be {side}x{side}x3 = {imageBytes} RGB bytes; " +
                        $"got {rgbImages[i]?.Length ?? 0}.", nameof(rgbImages));
                Buffer.BlockCopy(rgbImages[i], 0, flat, i * imageBytes, imageBytes);
            }
            return flat;
        }

        private static float[][] Split(float[] values, int count)
        {
            int width = values.Length / count;
            var result = new float[count][];
            for (int i = 0; i < count; i++)
                result[i] = values.AsSpan(i * width, width).ToArray();
            return result;
        }
    }
}

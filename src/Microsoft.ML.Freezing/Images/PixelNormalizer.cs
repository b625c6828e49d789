// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// RGB bytes (images of H x W x 3, back to back) to the network's planar float input [B, 3, H, W] in one pass on
    /// the CPU: channel order applied, then <c>v * (Scale / Std[c]) + (-Mean[c] / Std[c])</c>. The arithmetic of the
    /// exported graph's Mul and Add, rounded the same way (a multiply, then an add), so every engine sees the same
    /// input.
    /// </summary>
    /// <remarks>
    /// One pass instead of libtorch's permute, flip, widen, multiply and add over the batch (five passes, the strided
    /// ones slow on bytes): a batch of 32 images at 224 px took 56 ms that way, which the frozen prefix's pass paid on
    /// every batch.
    /// </remarks>
    internal sealed class PixelNormalizer
    {
        private readonly float[] _gain;
        private readonly float[] _offset;
        private readonly int[] _sourceChannel;

        public PixelNormalizer(ImagePreprocessing preprocessing)
        {
            float[] mean = preprocessing.Mean, std = preprocessing.Std;
            _gain = std.Select(s => preprocessing.Scale / s).ToArray();
            _offset = mean.Zip(std, (m, s) => -m / s).ToArray();
            _sourceChannel = preprocessing.Channels == ChannelOrder.Bgr ? new[] { 2, 1, 0 } : new[] { 0, 1, 2 };
        }

        /// <summary>Per network channel: the multiplier <c>Scale / Std[c]</c>.</summary>
        public ReadOnlySpan<float> Gain => _gain;

        /// <summary>Per network channel: the offset <c>-Mean[c] / Std[c]</c>.</summary>
        public ReadOnlySpan<float> Offset => _offset;

        /// <summary>
        /// Writes the planes of image <paramref name="index"/> (<paramref name="rgb"/>: H x W x 3 bytes) into
        /// <paramref name="nchw"/>, the whole batch's buffer.
        /// </summary>
        public void Write(ReadOnlySpan<byte> rgb, int index, Span<float> nchw)
        {
            int plane = rgb.Length / 3;
            for (int c = 0; c < 3; c++)
            {
                var target = nchw.Slice((index * 3 + c) * plane, plane);
                float gain = _gain[c], offset = _offset[c];
                for (int p = 0, j = _sourceChannel[c]; p < plane; p++, j += 3)
                    target[p] = rgb[j] * gain + offset;
            }
        }

        /// <summary>
        /// Writes <paramref name="rgbImages"/> (each <paramref name="side"/> x <paramref name="side"/> x 3 bytes) into
        /// <paramref name="nchw"/>, the batch's buffer; an image of another size is an error that gives its index.
        /// </summary>
        public void WriteBatch(IReadOnlyList<byte[]> rgbImages, int side, Span<float> nchw)
        {
            int imageBytes = side * side * 3;
            for (int i = 0; i < rgbImages.Count; i++)
            {
                if (rgbImages[i] is null || rgbImages[i].Length != imageBytes)
                    throw new ArgumentException($"Image {i} must be {side}x{side}x3 = {imageBytes} RGB bytes; " +
                        $"got {rgbImages[i]?.Length ?? 0}.", nameof(rgbImages));
                Write(rgbImages[i], i, nchw);
            }
        }
    }
}

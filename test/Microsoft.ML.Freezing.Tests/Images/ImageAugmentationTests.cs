// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static Microsoft.ML.Freezing.Tests.Images.DecodedImageSourceTests;

namespace Microsoft.ML.Freezing.Tests.Images
{
    /// <summary><see cref="ImageAugmentation.FlipAndCrop"/>, seen through <see cref="DecodedImageSource"/> with
    /// identity normalisation.</summary>
    [TestClass]
    public sealed class ImageAugmentationTests
    {
        private const int Size = 8; // padding 8 / 8 = 1 pixel

        private static DecodedImageSource Source(ImageAugmentation augmentation, int seed, int count = 16)
        {
            var source = new DecodedImageSource(Identity(Size), augmentation, seed);
            for (int n = 0; n < count; n++)
                source.Add(Pixels(n, Size), n);
            return source;
        }

        private static int Reflect(int i) => i < 0 ? -i : i >= Size ? 2 * (Size - 1) - i : i;

        /// <summary>Image <paramref name="n"/> flipped, then shifted by (dx, dy) inside its reflection-padded self, as
        /// CHW floats.</summary>
        private static float[] Expected(int n, bool flip, int dx, int dy)
        {
            var hwc = Pixels(n, Size);
            var chw = new float[3 * Size * Size];
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < Size; y++)
                    for (int x = 0; x < Size; x++)
                        chw[(c * Size + y) * Size +
                            x] = hwc[(Reflect(y + dy) * Size + Reflect((flip ? Size - 1 - x : x) + dx)) * 3 + c];
            return chw;
        }

        [TestMethod]
        public void NoneLeavesImagesAsTheyAre()
        {
            var images = ReadImages(Source(ImageAugmentation.None, seed: 1), 5);
            for (int n = 0; n < images.Count; n++)
                CollectionAssert.AreEqual(Expected(n, false, 0, 0), images[n], $"image {n}");
        }

        [TestMethod]
        public void FlipAndCropIsDeterministicForASeed()
        {
            var a = ReadImages(Source(ImageAugmentation.FlipAndCrop, seed: 3), 5);
            var b = ReadImages(Source(ImageAugmentation.FlipAndCrop, seed: 3), 5);
            var c = ReadImages(Source(ImageAugmentation.FlipAndCrop, seed: 4), 5);
            Assert.HasCount(16, a);
            for (int n = 0; n < a.Count; n++)
                CollectionAssert.AreEqual(a[n], b[n], $"image {n}");
            Assert.IsTrue(Enumerable.Range(0, 16).Any(n => !a[n].SequenceEqual(c[n])),
                "Another seed gives other crops.");
        }

        [TestMethod]
        public void FlipAndCropFlipsAndShiftsWithinThePaddedImage()
        {
            var images = ReadImages(Source(ImageAugmentation.FlipAndCrop, seed: 7, count: 40), 16);
            var seen = new HashSet<(bool Flip, int Dx, int Dy)>();
            for (int n = 0; n < images.Count; n++)
            {
                Assert.HasCount(3 * Size * Size, images[n]);
                var matches = (from flip in new[] { false, true }
                               from dx in new[] { -1, 0, 1 }
                               from dy in new[] { -1, 0, 1 }
                               where Expected(n, flip, dx, dy).SequenceEqual(images[n])
                               select (flip, dx, dy)).ToList();
                Assert.HasCount(1, matches, $"Image {n} is one flip and one shift of at most a pixel of the original.");
                seen.Add(matches[0]);
            }
            Assert.IsTrue(seen.Any(s => s.Flip) && seen.Any(s => !s.Flip), "Both flipped and unflipped images occur.");
            Assert.IsTrue(seen.Any(s => s.Dx != 0) && seen.Any(s => s.Dy != 0),
                "Horizontal and vertical shifts occur.");
            Assert.IsTrue(seen.Contains((false, 0, 0)) || seen.Count > 5, "The draws are spread out.");
        }

        [TestMethod]
        public void EachEpochDrawsNewCrops()
        {
            var source = Source(ImageAugmentation.FlipAndCrop, seed: 11);
            var first = ReadImages(source, 16);
            var second = ReadImages(source, 16);
            Assert.IsTrue(Enumerable.Range(0, 16).Any(n => !first[n].SequenceEqual(second[n])));
        }
    }
}

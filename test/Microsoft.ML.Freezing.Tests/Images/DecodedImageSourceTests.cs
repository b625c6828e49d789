// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing.Tests.Images
{
    /// <summary>Batching, labels, shuffling and normalisation of <see cref="DecodedImageSource"/>.</summary>
    [TestClass]
    public sealed class DecodedImageSourceTests
    {
        /// <summary>Scale 1, mean 0, std 1: normalised values equal the pixel bytes, so tests can read them
        /// back.</summary>
        internal static ImagePreprocessing Identity(int size)
            => new ImagePreprocessing(size, 1, new[] { 0f, 0f, 0f }, new[] { 1f, 1f, 1f });

        /// <summary>Image <paramref name="n"/>: every byte distinct within the image and from other images' first
        /// bytes.</summary>
        internal static byte[] Pixels(int n, int size)
            => Enumerable.Range(0, size * size * 3).Select(i => (byte)((n * 31 + i * 7) % 251)).ToArray();

        /// <summary>One element of a tensor, disposing the scalar tensor the indexer makes.</summary>
        internal static float At(Tensor t, params long[] index)
        {
            using var element = t[index];
            using var value = element.to_type(ScalarType.Float32);
            return value.item<float>();
        }

        internal static List<float[]> ReadImages(IImageBatchSource source, int batchSize, Random shuffle = null)
        {
            var images = new List<float[]>();
            foreach (var batch in source.GetBatches(batchSize, shuffle))
            {
                using (batch)
                {
                    for (int i = 0; i < batch.Count; i++)
                    {
                        using var image = batch.Images[i];
                        images.Add(image.data<float>().ToArray());
                    }
                }
            }
            return images;
        }

        private static List<long> Labels(IImageBatchSource source, int batchSize, Random shuffle)
        {
            var labels = new List<long>();
            foreach (var batch in source.GetBatches(batchSize, shuffle))
                using (batch)
                    labels.AddRange(batch.Labels.data<long>().ToArray());
            return labels;
        }

        [TestMethod]
        public void BatchesHaveTheRightShapesLabelsAndValues()
        {
            const int size = 4;
            var source = new DecodedImageSource(Identity(size));
            for (int n = 0; n < 10; n++)
                source.Add(Pixels(n, size), label: n % 3);
            Assert.AreEqual(10, source.Count);
            Assert.IsTrue(source.HasLabels);

            var counts = new List<long>();
            int first = 0;
            foreach (var batch in source.GetBatches(4, shuffle: null))
            {
                using (batch)
                {
                    counts.Add(batch.Count);
                    CollectionAssert.AreEqual(new long[] { batch.Count, 3, size, size }, batch.Images.shape);
                    Assert.AreEqual(ScalarType.Float32, batch.Images.dtype);
                    Assert.AreEqual(ScalarType.Int64, batch.Labels.dtype);
                    CollectionAssert.AreEqual(
                        Enumerable.Range(first, (int)batch.Count).Select(n => (long)(n % 3)).ToArray(),
                        batch.Labels.data<long>().ToArray());
                    // Image `first`, channel 1, pixel (x 2, y 1) is byte (1 * size + 2) * 3 + 1 of its HWC buffer.
                    var expected = Pixels(first, size)[(1 * size + 2) * 3 + 1];
                    Assert.AreEqual(expected, At(batch.Images, 0, 1, 1, 2));
                    first += (int)batch.Count;
                }
            }
            CollectionAssert.AreEqual(new long[] { 4, 4, 2 }, counts);
        }

        [TestMethod]
        public void ShufflingFollowsTheSeededGenerator()
        {
            var source = new DecodedImageSource(Identity(2));
            for (int n = 0; n < 20; n++)
                source.Add(Pixels(n, 2), label: n);
            var a = Labels(source, 6, new Random(5));
            var b = Labels(source, 6, new Random(5));
            var c = Labels(source, 6, new Random(6));
            CollectionAssert.AreEqual(a, b);
            CollectionAssert.AreNotEqual(a, c);
            CollectionAssert.AreNotEqual(Enumerable.Range(0, 20).Select(i => (long)i).ToList(), a);
            CollectionAssert.AreEquivalent(Enumerable.Range(0, 20).Select(i => (long)i).ToList(), a);
            // The images travel with their labels.
            foreach (var batch in source.GetBatches(7, new Random(5)))
            {
                using (batch)
                {
                    for (int i = 0; i < batch.Count; i++)
                    {
                        int n = (int)At(batch.Labels, i);
                        Assert.AreEqual(Pixels(n, 2)[0], At(batch.Images, i, 0, 0, 0), $"image {n}");
                    }
                }
            }
        }

        [TestMethod]
        public void UnlabelledSourcesYieldNoLabels()
        {
            var source = new DecodedImageSource(Identity(2));
            source.Add(Pixels(0, 2));
            source.Add(Pixels(1, 2));
            Assert.IsFalse(source.HasLabels);
            var batch = source.GetBatches(8, null).Single();
            using (batch)
            {
                Assert.IsNull(batch.Labels);
                Assert.AreEqual(2, batch.Count);
            }
            Assert.ThrowsExactly<InvalidOperationException>(() => source.Add(Pixels(2, 2), 1));
        }

        [TestMethod]
        public void AddChecksTheBufferAndTheLabel()
        {
            var source = new DecodedImageSource(Identity(4));
            var e = Assert.ThrowsExactly<ArgumentException>(() => source.Add(new byte[4 * 4 * 4], 0));
            StringAssert.Contains(e.Message, "4x4x3 = 48 RGB bytes; got 64");
            Assert.ThrowsExactly<ArgumentNullException>(() => source.Add(null, 0));
            Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => source.Add(new byte[48], -1));
            source.Add(new byte[48], 0);
            Assert.ThrowsExactly<InvalidOperationException>(() => source.Add(new byte[48]));
            Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => source.GetBatches(0, null));
        }

        [TestMethod]
        public void DecodedImagesAreNormalisedByThePreprocessing()
        {
            var preprocessing = ImagePreprocessing.ImageNet(8);
            var source = new DecodedImageSource(preprocessing);
            source.Add(preprocessing.DecodeAndResize(TestImages.Encode(10, 10, (_, _) => TestImages.Red)), 2);
            var batch = source.GetBatches(1, null).Single();
            using (batch)
            {
                Assert.AreEqual((1 - 0.485f) / 0.229f, At(batch.Images, 0, 0, 3, 3), 1e-5f);
                Assert.AreEqual((0 - 0.456f) / 0.224f, At(batch.Images, 0, 1, 3, 3), 1e-5f);
                Assert.AreEqual((0 - 0.406f) / 0.225f, At(batch.Images, 0, 2, 3, 3), 1e-5f);
                Assert.AreEqual(2f, At(batch.Labels, 0));
            }
        }
    }
}

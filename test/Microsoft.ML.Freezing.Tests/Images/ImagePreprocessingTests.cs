// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing.Tests.Images
{
    /// <summary>The contract itself: defaults, validation, normalisation arithmetic and the binary form.</summary>
    [TestClass]
    public sealed class ImagePreprocessingTests
    {
        private static ImagePreprocessing Custom()
            => new ImagePreprocessing(96, 1f, new[] { 103.9f, 116.8f, 123.7f }, new[] { 1f, 2f, 4f },
            ChannelOrder.Bgr, ImageResizeMode.Stretch, ImageInterpolation.Bicubic, applyExifOrientation: false);

        [TestMethod]
        public void ImageNetMatchesTorchvision()
        {
            var p = ImagePreprocessing.ImageNet();
            Assert.AreEqual(224, p.ImageSize);
            Assert.AreEqual(ImageResizeMode.CenterCrop, p.Resize);
            Assert.AreEqual(ImageInterpolation.Bilinear, p.Interpolation);
            Assert.IsTrue(p.ApplyExifOrientation);
            Assert.AreEqual(ChannelOrder.Rgb, p.Channels);
            Assert.AreEqual(1f / 255, p.Scale);
            CollectionAssert.AreEqual(new[] { 0.485f, 0.456f, 0.406f }, p.Mean);
            CollectionAssert.AreEqual(new[] { 0.229f, 0.224f, 0.225f }, p.Std);
            Assert.AreEqual(
                "224x224 CenterCrop Bilinear EXIF Rgb scale=0.00392157 mean=[0.485, 0.456, 0.406] std=[0.229, 0.224, " +
                "0.225]", p.ToString());
        }

        [TestMethod]
        public void WithCopiesChangeOneThingAndLeaveTheOriginal()
        {
            var p = ImagePreprocessing.ImageNet();
            var q = p.WithImageSize(32);
            Assert.AreEqual(32, q.ImageSize);
            Assert.AreEqual(224, p.ImageSize);
            Assert.AreEqual(p, q.WithImageSize(224));
            Assert.AreNotEqual(p, p.WithChannels(ChannelOrder.Bgr));
            Assert.AreEqual(ImageResizeMode.Stretch, p.WithResize(ImageResizeMode.Stretch).Resize);
            Assert.IsFalse(p.WithExifOrientation(false).ApplyExifOrientation);
            p.Mean[0] = 99; // a copy: the contract cannot be changed from outside
            Assert.AreEqual(0.485f, p.Mean[0]);
        }

        [TestMethod]
        public void InvalidSettingsAreRejectedWithTheirName()
        {
            float[] three = { 0, 0, 0 }, ones = { 1, 1, 1 };
            StringAssert.Contains(
                Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new ImagePreprocessing(0, 1, three, ones))
                .Message, "image size");
            StringAssert.Contains(
                Assert.ThrowsExactly<ArgumentOutOfRangeException>(
                () => new ImagePreprocessing(8, float.NaN, three, ones)).Message, "scale");
            StringAssert.Contains(
                Assert.ThrowsExactly<ArgumentException>(() => new ImagePreprocessing(8, 1, new float[2], ones)).Message,
                "mean needs exactly 3");
            StringAssert.Contains(
                Assert.ThrowsExactly<ArgumentException>(() => new ImagePreprocessing(8, 1, three, new[] { 1f, 0f, 1f }))
                .Message, "positive");
            Assert.ThrowsExactly<ArgumentOutOfRangeException>(
                () => new ImagePreprocessing(8, 1, three, ones, (ChannelOrder)5));
            Assert.ThrowsExactly<ArgumentOutOfRangeException>(
                () => ImagePreprocessing.ImageNet().WithImageSize(ImagePreprocessing.MaxImageSize + 1));
        }

        [TestMethod]
        public void NormalizeAppliesScaleThenMeanAndStd()
        {
            var p = ImagePreprocessing.ImageNet(2);
            byte[] pixels = { 0, 128, 255, 10, 20, 30, 255, 255, 255, 1, 2, 3 }; // [1, 2, 2, 3]
            using var input = tensor(pixels, new long[] { 1, 2, 2, 3 }, ScalarType.Byte);
            using var output = p.Normalize(input);
            CollectionAssert.AreEqual(new long[] { 1, 3, 2, 2 }, output.shape);
            Assert.AreEqual(ScalarType.Float32, output.dtype);
            Assert.IsTrue(output.is_contiguous());
            var values = output.data<float>().ToArray();
            float[] mean = p.Mean, std = p.Std;
            for (int c = 0; c < 3; c++)
            {
                for (int i = 0; i < 4; i++)
                {
                    float expected = (pixels[i * 3 + c] / 255f - mean[c]) / std[c];
                    Assert.AreEqual(expected, values[c * 4 + i], 1e-5f, $"channel {c}, pixel {i}");
                }
            }
        }

        [TestMethod]
        public void BgrSwapsChannelsAndAppliesMeanInNetworkOrder()
        {
            byte[] pixels = { 10, 20, 30 }; // R, G, B
            using var input = tensor(pixels, new long[] { 1, 1, 1, 3 }, ScalarType.Byte);
            var rgb = new ImagePreprocessing(1, 1, new[] { 1f, 2f, 3f }, new[] { 1f, 1f, 2f });
            var bgr = rgb.WithChannels(ChannelOrder.Bgr);
            using var fromRgb = rgb.Normalize(input);
            using var fromBgr = bgr.Normalize(input);
            CollectionAssert.AreEqual(new[] { 10f - 1, 20f - 2, (30f - 3) / 2 }, fromRgb.data<float>().ToArray());
            CollectionAssert.AreEqual(new[] { 30f - 1, 20f - 2, (10f - 3) / 2 }, fromBgr.data<float>().ToArray());
        }

        [TestMethod]
        public void NormalizeOnTheCpuIsLibTorchsArithmeticToTheBit()
        {
            // The one-pass CPU path (PixelNormalizer) against the five libtorch operations it replaced, which the
            // CUDA path still runs: non-square images, BGR, a scale, means and stds that do not divide evenly.
            var p = new ImagePreprocessing(5, 1 / 255f, new[] { 0.485f, 0.456f, 0.406f },
                new[] { 0.229f, 0.224f, 0.225f }, ChannelOrder.Bgr);
            var bytes = new byte[3 * 5 * 7 * 3];
            new Random(3).NextBytes(bytes);
            using var input = tensor(bytes, new long[] { 3, 5, 7, 3 }, ScalarType.Byte);
            using var output = p.Normalize(input);
            using var gain = tensor(p.Std.Select(s => p.Scale / s).ToArray()).view(1, 3, 1, 1);
            using var offset = tensor(p.Mean.Zip(p.Std, (m, s) => -m / s).ToArray()).view(1, 3, 1, 1);
            using var expected = input.permute(0, 3, 1, 2).flip(1).contiguous().to_type(ScalarType.Float32)
                .mul_(gain).add_(offset);
            CollectionAssert.AreEqual(new long[] { 3, 3, 5, 7 }, output.shape);
            CollectionAssert.AreEqual(expected.data<float>().ToArray(), output.data<float>().ToArray());
        }

        [TestMethod]
        public void NormalizeImagesEqualsNormalizeOfTheStackedBytesAndNamesAnImageOfTheWrongSize()
        {
            var p = ImagePreprocessing.ImageNet(4);
            var random = new Random(5);
            var images = Enumerable.Range(0, 3).Select(_ => new byte[4 * 4 * 3]).ToList();
            images.ForEach(random.NextBytes);
            using var stacked = tensor(images.SelectMany(b => b).ToArray(), new long[] { 3, 4, 4, 3 }, ScalarType.Byte);
            using var fromTensor = p.Normalize(stacked);
            using var fromList = p.NormalizeImages(images);
            CollectionAssert.AreEqual(fromTensor.data<float>().ToArray(), fromList.data<float>().ToArray());
            images[2] = new byte[5];
            StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => p.NormalizeImages(images)).Message,
                "Image 2 must be 4x4x3 = 48 RGB bytes; got 5");
        }

        [TestMethod]
        public void NormalizeRejectsWhatIsNotAUint8HwcBatch()
        {
            var p = ImagePreprocessing.ImageNet(4);
            using var floats = zeros(1, 4, 4, 3);
            using var chw = zeros(new long[] { 1, 3, 4, 4 }, ScalarType.Byte);
            StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => p.Normalize(floats)).Message, "uint8");
            StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => p.Normalize(chw)).Message,
                "[1, 3, 4, 4]");
        }

        [TestMethod]
        public void SaveAndLoadRoundTrip()
        {
            foreach (var p in new[] { ImagePreprocessing.ImageNet(), Custom() })
            {
                var bytes = Saved(p);
                using var reader = new BinaryReader(new MemoryStream(bytes));
                var loaded = ImagePreprocessing.Load(reader);
                Assert.AreEqual(p, loaded);
                Assert.AreEqual(p.ToString(), loaded.ToString());
                Assert.AreEqual(bytes.Length, reader.BaseStream.Position, "Load reads exactly what Save wrote.");
            }
        }

        [TestMethod]
        public void LoadRejectsATruncatedRecord()
        {
            var bytes = Saved(Custom());
            for (int length = 0; length < bytes.Length; length++)
            {
                using var reader = new BinaryReader(new MemoryStream(bytes, 0, length));
                var e = Assert.ThrowsExactly<InvalidDataException>(() => ImagePreprocessing.Load(reader),
                    $"length {length}");
                StringAssert.Contains(e.Message, "preprocessing");
                StringAssert.Contains(e.Message, "ended early");
            }
        }

        [TestMethod]
        [DataRow(0, 2, "version 2")]          // version
        [DataRow(4, 0, "image size")]         // image size
        [DataRow(8, 7, "resize")]             // resize mode
        [DataRow(12, 9, "interpolation")]     // interpolation
        [DataRow(17, 3, "channel order")]     // channel order
        public void LoadRejectsUnknownVersionsAndOutOfRangeValues(int offset, int value, string what)
        {
            var bytes = Saved(Custom());
            BitConverter.GetBytes(value).CopyTo(bytes, offset);
            using var reader = new BinaryReader(new MemoryStream(bytes));
            var e = Assert.ThrowsExactly<InvalidDataException>(() => ImagePreprocessing.Load(reader));
            StringAssert.Contains(e.Message, "preprocessing");
            StringAssert.Contains(e.Message, what);
        }

        [TestMethod]
        public void LoadRejectsBadFlagsAndStatistics()
        {
            var bytes = Saved(Custom());
            var flag = (byte[])bytes.Clone();
            flag[16] = 2; // EXIF flag
            StringAssert.Contains(Load(flag).Message, "EXIF");
            var std = (byte[])bytes.Clone();
            BitConverter.GetBytes(-1f).CopyTo(std, 21 + 4 * 4); // std[0]
            StringAssert.Contains(Load(std).Message, "std");
            var scale = (byte[])bytes.Clone();
            BitConverter.GetBytes(float.PositiveInfinity).CopyTo(scale, 21);
            StringAssert.Contains(Load(scale).Message, "scale");
        }

        private static InvalidDataException Load(byte[] bytes)
        {
            using var reader = new BinaryReader(new MemoryStream(bytes));
            return Assert.ThrowsExactly<InvalidDataException>(() => ImagePreprocessing.Load(reader));
        }

        private static byte[] Saved(ImagePreprocessing p)
        {
            var stream = new MemoryStream();
            using (var writer = new BinaryWriter(stream))
                p.Save(writer);
            return stream.ToArray();
        }
    }
}

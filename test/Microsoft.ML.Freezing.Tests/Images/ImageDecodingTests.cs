// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using SkiaSharp;
using static Microsoft.ML.Freezing.Tests.Images.TestImages;

namespace Microsoft.ML.Freezing.Tests.Images
{
    /// <summary>Decoding, squaring, resizing and EXIF orientation of <see cref="ImagePreprocessing"/>.</summary>
    [TestClass]
    public sealed class ImageDecodingTests
    {
        private static ImagePreprocessing Preprocessing(int size, ImageResizeMode resize)
            => ImagePreprocessing.ImageNet(size).WithResize(resize);

        [TestMethod]
        [DataRow(SKEncodedImageFormat.Png, 2)]
        [DataRow(SKEncodedImageFormat.Jpeg, 40)]
        public void StretchKeepsEveryBandOfANonSquareImage(SKEncodedImageFormat format, int tolerance)
        {
            var encoded = Encode(96, 32, (x, _) => Bands(x, 96), format);
            var rgb = Preprocessing(24, ImageResizeMode.Stretch).DecodeAndResize(encoded);
            Assert.HasCount(24 * 24 * 3, rgb);
            foreach (int y in new[] { 0, 12, 23 })
            {
                Assert.IsTrue(Near(At(rgb, 24, 3, y), Green, tolerance), $"row {y}, left band: {At(rgb, 24, 3, y)}");
                Assert.IsTrue(Near(At(rgb, 24, 12, y), Red, tolerance), $"row {y}, middle band: {At(rgb, 24, 12, y)}");
                Assert.IsTrue(Near(At(rgb, 24, 20, y), Blue, tolerance), $"row {y}, right band: {At(rgb, 24, 20, y)}");
            }
        }

        [TestMethod]
        [DataRow(SKEncodedImageFormat.Png, 2)]
        [DataRow(SKEncodedImageFormat.Jpeg, 40)]
        public void CenterCropKeepsOnlyTheMiddleOfANonSquareImage(SKEncodedImageFormat format, int tolerance)
        {
            // 96x32: the centred 32x32 square is exactly the red band.
            var encoded = Encode(96, 32, (x, _) => Bands(x, 96), format);
            var rgb = Preprocessing(24, ImageResizeMode.CenterCrop).DecodeAndResize(encoded);
            Assert.HasCount(24 * 24 * 3, rgb);
            for (int y = 0; y < 24; y += 3)
                for (int x = 2; x < 22; x += 3)
                    Assert.IsTrue(Near(At(rgb, 24, x, y), Red, tolerance), $"({x}, {y}): {At(rgb, 24, x, y)}");
        }

        [TestMethod]
        public void DecodingIntoAnArrayReusesItAndEqualsAFreshDecode()
        {
            var p = Preprocessing(8, ImageResizeMode.CenterCrop);
            byte[] bands = Encode(30, 20, (x, y) => Bands(x, 30));
            byte[] quadrants = Encode(24, 24, (x, y) => Quadrants(x, y, 24));
            var into = new byte[8 * 8 * 3];
            Assert.AreSame(into, p.DecodeAndResizeInto(bands, into));
            CollectionAssert.AreEqual(p.DecodeAndResize(bands), into);
            Assert.AreSame(into, p.DecodeAndResizeInto(quadrants, into), "the same array for the next image");
            CollectionAssert.AreEqual(p.DecodeAndResize(quadrants), into);
            var other = p.DecodeAndResizeInto(bands, new byte[7]);
            Assert.AreEqual(8 * 8 * 3, other.Length, "an array of another length is not written: a new one is");
            CollectionAssert.AreEqual(p.DecodeAndResize(bands), other);
        }

        [TestMethod]
        public void CenterCropOfATallImageKeepsLeftAndRightHalves()
        {
            // 48x96, left half red, right half blue: the crop is rows 24..71, all columns.
            var encoded = Encode(48, 96, (x, _) => x < 24 ? Red : Blue, SKEncodedImageFormat.Jpeg);
            var rgb = Preprocessing(32, ImageResizeMode.CenterCrop).DecodeAndResize(encoded);
            Assert.HasCount(32 * 32 * 3, rgb);
            Assert.IsTrue(Near(At(rgb, 32, 4, 16), Red, 40), $"{At(rgb, 32, 4, 16)}");
            Assert.IsTrue(Near(At(rgb, 32, 27, 16), Blue, 40), $"{At(rgb, 32, 27, 16)}");
        }

        [TestMethod]
        [DataRow(ImageInterpolation.Nearest)]
        [DataRow(ImageInterpolation.Bilinear)]
        [DataRow(ImageInterpolation.Bicubic)]
        public void EveryInterpolationEnlargesAndShrinks(ImageInterpolation interpolation)
        {
            var encoded = Encode(20, 20, (x, _) => x < 10 ? Red : Blue);
            foreach (int size in new[] { 8, 40 })
            {
                var rgb = Preprocessing(size, ImageResizeMode.Stretch).WithInterpolation(interpolation)
                    .DecodeAndResize(encoded);
                Assert.HasCount(size * size * 3, rgb);
                Assert.IsTrue(Near(At(rgb, size, 0, 0), Red, 2), $"{size}: {At(rgb, size, 0, 0)}");
                Assert.IsTrue(Near(At(rgb, size, size - 1, size - 1), Blue, 2),
                    $"{size}: {At(rgb, size, size - 1, size - 1)}");
            }
        }

        // Stored quadrants: top-left red, top-right green, bottom-left blue, bottom-right white. Expected upright
        // quadrants (TL, TR, BL, BR) per EXIF orientation, written out from the TIFF specification.
        [TestMethod]
        [DataRow(1, "RGBW")]
        [DataRow(2, "GRWB")] // mirrored horizontally
        [DataRow(3, "WBGR")] // rotated 180
        [DataRow(4, "BWRG")] // mirrored vertically
        [DataRow(5, "RBGW")] // transposed
        [DataRow(6, "BRWG")] // stored rotated 90 counter-clockwise: shown turned clockwise
        [DataRow(7, "WGBR")] // transverse
        [DataRow(8, "GWRB")] // stored rotated 90 clockwise: shown turned counter-clockwise
        public void ExifOrientationTurnsTheImageUpright(int orientation, string expected)
        {
            var jpeg = WithExifOrientation(Encode(32, 32, (x, y) => Quadrants(x, y, 32), SKEncodedImageFormat.Jpeg),
                orientation);
            var rgb = Preprocessing(16, ImageResizeMode.Stretch).DecodeAndResize(jpeg);
            var corners = new[] { (4, 4), (11, 4), (4, 11), (11, 11) };
            for (int i = 0; i < 4; i++)
            {
                var color = expected[i] switch { 'R' => Red, 'G' => Green, 'B' => Blue, _ => White };
                var (x, y) = corners[i];
                Assert.IsTrue(Near(At(rgb, 16, x, y), color, 40),
                    $"orientation {orientation}, quadrant {i}: {At(rgb, 16, x, y)}, expected {expected[i]}");
            }

            // With the orientation ignored, the stored layout comes out.
            var stored = Preprocessing(16, ImageResizeMode.Stretch).WithExifOrientation(false).DecodeAndResize(jpeg);
            Assert.IsTrue(Near(At(stored, 16, 11, 4), Green, 40), $"{At(stored, 16, 11, 4)}");
            Assert.IsTrue(Near(At(stored, 16, 4, 11), Blue, 40), $"{At(stored, 16, 4, 11)}");
        }

        [TestMethod]
        public void ExifRotationOfANonSquareImageHappensBeforeItIsSquared()
        {
            // Stored 96x32 bands green|red|blue, orientation 6: upright it is 32x96 with green on top.
            var jpeg = WithExifOrientation(Encode(96, 32, (x, _) => Bands(x, 96), SKEncodedImageFormat.Jpeg), 6);
            var stretched = Preprocessing(24, ImageResizeMode.Stretch).DecodeAndResize(jpeg);
            Assert.IsTrue(Near(At(stretched, 24, 12, 3), Green, 40), $"{At(stretched, 24, 12, 3)}");
            Assert.IsTrue(Near(At(stretched, 24, 12, 12), Red, 40), $"{At(stretched, 24, 12, 12)}");
            Assert.IsTrue(Near(At(stretched, 24, 12, 20), Blue, 40), $"{At(stretched, 24, 12, 20)}");
            var cropped = Preprocessing(24, ImageResizeMode.CenterCrop).DecodeAndResize(jpeg);
            Assert.IsTrue(Near(At(cropped, 24, 12, 3), Red, 40), $"{At(cropped, 24, 12, 3)}");
            Assert.IsTrue(Near(At(cropped, 24, 12, 20), Red, 40), $"{At(cropped, 24, 12, 20)}");
        }

        [TestMethod]
        public void ResizePixelsAgreesWithDecodingForRgbaAndBgra()
        {
            const int width = 30, height = 20;
            Func<int, int, SKColor> color = (x, y) => new SKColor((byte)(x * 8), (byte)(y * 12), (byte)(255 - x * 8));
            var rgba = new byte[width * height * 4];
            var bgra = new byte[width * height * 4];
            for (int y = 0; y < height; y++)
            {
                for (int x = 0; x < width; x++)
                {
                    var c = color(x, y);
                    int i = (y * width + x) * 4;
                    (rgba[i], rgba[i + 1], rgba[i + 2], rgba[i + 3]) = (c.Red, c.Green, c.Blue, 255);
                    (bgra[i], bgra[i + 1], bgra[i + 2], bgra[i + 3]) = (c.Blue, c.Green, c.Red, 255);
                }
            }
            foreach (var resize in new[] { ImageResizeMode.Stretch, ImageResizeMode.CenterCrop })
            {
                var preprocessing = Preprocessing(12, resize);
                var decoded = preprocessing.DecodeAndResize(Encode(width, height, color));
                CollectionAssert.AreEqual(decoded, preprocessing.ResizePixels(rgba, width, height, bgra: false),
                    $"{resize}, RGBA");
                CollectionAssert.AreEqual(decoded, preprocessing.ResizePixels(bgra, width, height, bgra: true),
                    $"{resize}, BGRA");
            }
            Assert.ThrowsExactly<ArgumentException>(
                () => Preprocessing(12, ImageResizeMode.Stretch).ResizePixels(rgba.AsSpan(1), width, height, false));
        }

        [TestMethod]
        public void TranslucentPixelsKeepTheirColourAsWhenAlphaIsDropped()
        {
            // PIL's convert("RGB") drops alpha; premultiplying first would halve the red of a half-transparent pixel.
            using var bitmap = new SKBitmap(new SKImageInfo(8, 8, SKColorType.Rgba8888, SKAlphaType.Unpremul));
            for (int y = 0; y < 8; y++)
                for (int x = 0; x < 8; x++)
                    bitmap.SetPixel(x, y, new SKColor(255, 0, 0, 128));
            using var image = SKImage.FromBitmap(bitmap);
            using var png = image.Encode(SKEncodedImageFormat.Png, 100);
            var rgb = ImagePreprocessing.ImageNet(4).DecodeAndResize(png.AsSpan());
            for (int i = 0; i < 16; i++)
                Assert.IsTrue(Near(At(rgb, 4, i % 4, i / 4), Red, 2), $"pixel {i}: {At(rgb, 4, i % 4, i / 4)}");
        }

        [TestMethod]
        public void BytesThatAreNotAnImageThrowInvalidDataException()
        {
            var preprocessing = ImagePreprocessing.ImageNet(16);
            var garbage = Enumerable.Range(0, 200).Select(i => (byte)(i * 37 + 11)).ToArray();
            var e = Assert.ThrowsExactly<InvalidDataException>(() => preprocessing.DecodeAndResize(garbage));
            StringAssert.Contains(e.Message, "not a decodable image");
            StringAssert.Contains(e.Message, "200 bytes");

            e = Assert.ThrowsExactly<InvalidDataException>(
                () => preprocessing.DecodeAndResize(ReadOnlySpan<byte>.Empty));
            StringAssert.Contains(e.Message, "empty");
        }

        [TestMethod]
        public void TruncatedImagesThrowInvalidDataException()
        {
            var preprocessing = ImagePreprocessing.ImageNet(16);
            foreach (var format in new[] { SKEncodedImageFormat.Jpeg, SKEncodedImageFormat.Png })
            {
                var encoded = Encode(64, 64, (x, y) => new SKColor((byte)(x * 4), (byte)(y * 4), (byte)(x ^ y)),
                    format);
                var e = Assert.ThrowsExactly<InvalidDataException>(
                    () => preprocessing.DecodeAndResize(encoded.AsSpan(0, encoded.Length / 2)),
                    format.ToString());
                StringAssert.Contains(e.Message, "truncated");
            }
        }
    }
}

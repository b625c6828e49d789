// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using Microsoft.ML.Freezing.Tests.MLNet;
using SkiaSharp;
using static Microsoft.ML.Freezing.Tests.Images.TestImages;
using static Microsoft.ML.Freezing.Tests.Reliability.ImageFiles;

namespace Microsoft.ML.Freezing.Tests.Reliability
{
    /// <summary>The bad images of issue 7: those that must be rejected, and those that must be converted (with the
    /// pixels expected).</summary>
    internal static class BadImages
    {
        /// <summary>An image that cannot be used: its name, its bytes and a fragment of the reason the decoder
        /// gives.</summary>
        public sealed record Rejected(string Name, byte[] Bytes, string Reason);

        /// <summary>An image in a format that is converted: its bytes, the preprocessing, and the RGB pixels expected
        /// at some points.</summary>
        public sealed record Converted(string Name, byte[] Bytes, ImagePreprocessing Preprocessing,
            (int X, int Y, int R, int G, int B)[] Expected, int Tolerance);

        public static IReadOnlyList<Rejected> AllRejected()
        {
            var png = GeneratedImages.Stripes(1, seed: 21)[0].ImageSource;
            var jpeg = Encode(32, 32, (x, y) => Quadrants(x, y, 32), SKEncodedImageFormat.Jpeg);
            var random = new byte[4096];
            new Random(7).NextBytes(random);
            random[0] = 0x42; // not 0: two zero bytes would read as a WBMP header
            const string beforeDecoding = "rejected before decoding";
            return new[]
            {
                new Rejected("zero bytes", Array.Empty<byte>(), "empty"),
                new Rejected("truncated PNG", png.AsSpan(0, png.Length * 6 / 10).ToArray(), "truncated"),
                new Rejected("truncated JPEG", jpeg.AsSpan(0, jpeg.Length * 6 / 10).ToArray(), "truncated"),
                new Rejected("random bytes", random, "not a decodable image"),
                new Rejected("text named cat.jpg",
                    Encoding.UTF8.GetBytes("This is the caption of cat.jpg, not the picture.\n"),
                    "not a decodable image"),
                new Rejected("PNG header claiming 30000x30000", HugePng(), beforeDecoding),
                new Rejected("JPEG header claiming 30000x30000", HugeJpeg(), beforeDecoding),
                new Rejected("GIF header claiming 30000x30000", HugeGif(), beforeDecoding),
                new Rejected("BMP header claiming 30000x30000", HugeBmp(), beforeDecoding),
            };
        }

        /// <summary>Stretch and nearest neighbour at the source's own size: the output pixels are the decoded
        /// pixels.</summary>
        private static ImagePreprocessing Exact(int size)
            => ImagePreprocessing.ImageNet(size).WithResize(ImageResizeMode.Stretch)
            .WithInterpolation(ImageInterpolation.Nearest);

        public static IReadOnlyList<Converted> AllConverted()
        {
            static int[] S(params int[] v) => v;
            // 2x2 sources: (0,0) (1,0) / (0,1) (1,1).
            var gray8 = Png(2, 2, PngColor.Gray, 8, (x, y) => S(new[] { 0, 85, 170, 255 }[y * 2 + x]));
            var gray16 = Png(2, 2, PngColor.Gray, 16, (x, y) => S(new[] { 0, 85, 170, 255 }[y * 2 + x] * 257));
            var grayAlpha = Png(2, 2, PngColor.GrayAlpha, 8, (x, y) => y == 0 ? S(200, 0) : S(50, 128));
            var rgb16 = Png(2, 2, PngColor.Rgb, 16, (x, y) => S(10 * 257, 200 * 257, (x * 100 + y * 50) * 257));
            var rgba8 = Png(2, 2, PngColor.Rgba, 8,
                (x, y)
                => new[] { S(200, 100, 50, 0), S(10, 20, 30, 128), S(255, 255, 255, 255), S(0, 0, 0, 255) }[y * 2 + x]);
            var rgba16 = Png(2, 2, PngColor.Rgba, 16, (x, y) => x == 0 ? S(200 * 257, 100 * 257, 50 * 257, 0)
                : S(10 * 257, 20 * 257, 30 * 257, 65535));
            var palette = Png(2, 2, PngColor.Palette, 8, (x, y) => S(x), palette: new byte[] { 255, 0, 0, 0, 0, 255 },
                transparency: new byte[] { 0, 255 });
            // 16x16 JPEGs of four flat 8x8 blocks: (0,0) (1,0) / (0,1) (1,1).
            var grayJpeg = FlatBlockJpeg(16, 16, 1,
                (bx, by)
                => new[] { new byte[] { 0 }, new byte[] { 85 }, new byte[] { 170 }, new byte[] { 255 } }[by * 2 + bx]);
            // Adobe CMYK stores inverted values (255 = no ink): cyan, magenta, yellow and half black ink.
            var cmykJpeg = FlatBlockJpeg(16, 16, 4, (bx, by) => new[]
            {
                new byte[] { 0, 255, 255, 255 }, new byte[] { 255, 0, 255, 255 }, new byte[] { 255, 255, 0, 255 },
                new byte[] { 255, 255, 255, 127 },
            }[by * 2 + bx]);
            var onePixel = Png(1, 1, PngColor.Rgb, 8, (_, _) => S(123, 45, 67));
            return new[]
            {
                new Converted("grayscale PNG (8-bit)", gray8, Exact(2),
                    new[] { (0, 0, 0, 0, 0), (1, 0, 85, 85, 85), (0, 1, 170, 170, 170), (1, 1, 255, 255, 255) }, 0),
                new Converted("grayscale PNG (16-bit)", gray16, Exact(2),
                    new[] { (0, 0, 0, 0, 0), (1, 0, 85, 85, 85), (0, 1, 170, 170, 170), (1, 1, 255, 255, 255) }, 1),
                new Converted("grayscale + alpha PNG", grayAlpha, Exact(2),
                    new[] { (0, 0, 200, 200, 200), (1, 1, 50, 50, 50) }, 1),
                new Converted("RGB PNG (16-bit)", rgb16, Exact(2),
                    new[] { (0, 0, 10, 200, 0), (1, 0, 10, 200, 100), (1, 1, 10, 200, 150) }, 1),
                // Alpha is dropped without premultiplying (as PIL's convert("RGB")): a transparent pixel keeps its
                // colour.
                new Converted("RGBA PNG (8-bit)", rgba8, Exact(2),
                    new[] { (0, 0, 200, 100, 50), (1, 0, 10, 20, 30), (0, 1, 255, 255, 255), (1, 1, 0, 0, 0) }, 1),
                new Converted("RGBA PNG (16-bit)", rgba16, Exact(2), new[] { (0, 0, 200, 100, 50), (1, 1, 10, 20, 30) },
                    1),
                new Converted("palette PNG with transparency", palette, Exact(2),
                    new[] { (0, 0, 255, 0, 0), (1, 1, 0, 0, 255) }, 0),
                new Converted("grayscale JPEG", grayJpeg, Exact(16),
                    new[] { (4, 4, 0, 0, 0), (12, 4, 85, 85, 85), (4, 12, 170, 170, 170), (12, 12, 255, 255, 255) }, 1),
                new Converted("CMYK JPEG (Adobe)", cmykJpeg, Exact(16),
                    new[] { (4, 4, 0, 255, 255), (12, 4, 255, 0, 255), (4, 12, 255, 255, 0), (12, 12, 127, 127, 127) },
                    2),
                new Converted("1x1 PNG", onePixel, ImagePreprocessing.ImageNet(32),
                    new[] { (0, 0, 123, 45, 67), (16, 16, 123, 45, 67), (31, 31, 123, 45, 67) }, 0),
            };
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Linq;
using SkiaSharp;

namespace Microsoft.ML.Freezing.Tests.Images
{
    /// <summary>Small images encoded with SkiaSharp for the image tests.</summary>
    internal static class TestImages
    {
        public static readonly SKColor Red = new SKColor(255, 0, 0);
        public static readonly SKColor Green = new SKColor(0, 255, 0);
        public static readonly SKColor Blue = new SKColor(0, 0, 255);
        public static readonly SKColor White = new SKColor(255, 255, 255);

        /// <summary>Encodes a width x height image whose pixel (x, y) has colour <paramref name="color"/>(x,
        /// y).</summary>
        public static byte[] Encode(int width, int height, Func<int, int, SKColor> color,
            SKEncodedImageFormat format = SKEncodedImageFormat.Png)
        {
            using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                    bitmap.SetPixel(x, y, color(x, y));
            using var image = SKImage.FromBitmap(bitmap);
            using var data = image.Encode(format, 95);
            return data.ToArray();
        }

        /// <summary>Green, red and blue vertical bands of equal width, left to right.</summary>
        public static SKColor Bands(int x, int width) => x < width / 3 ? Green : x < 2 * width / 3 ? Red : Blue;

        /// <summary>Quadrants: top-left red, top-right green, bottom-left blue, bottom-right white.</summary>
        public static SKColor Quadrants(int x, int y, int side)
            => (x < side / 2, y < side / 2) switch { (true, true) => Red, (false, true) => Green, (true, false) => Blue,
                _ => White };

        /// <summary>
        /// A copy of a JPEG with an EXIF APP1 segment (big-endian TIFF, one IFD entry: Orientation =
        /// <paramref name="orientation"/>) spliced in right after the SOI marker.
        /// </summary>
        public static byte[] WithExifOrientation(byte[] jpeg, int orientation)
        {
            if (jpeg[0] != 0xFF || jpeg[1] != 0xD8) throw new ArgumentException("Not a JPEG.", nameof(jpeg));
            byte[] payload =
            {
                (byte)'E', (byte)'x', (byte)'i', (byte)'f', 0, 0,
                (byte)'M', (byte)'M', 0, 42, 0, 0, 0, 8,     // TIFF header, first IFD at offset 8
                0, 1,                                        // one entry
                0x01, 0x12, 0, 3, 0, 0, 0, 1,                // tag 0x0112 Orientation, SHORT, count 1
                0, (byte)orientation, 0, 0,                  // value
                0, 0, 0, 0,                                  // no next IFD
            };
            int length = payload.Length + 2;
            var segment = new byte[] { 0xFF, 0xE1, (byte)(length >> 8), (byte)length }.Concat(payload);
            return jpeg.Take(2).Concat(segment).Concat(jpeg.Skip(2)).ToArray();
        }

        /// <summary>The RGB colour at (x, y) of an RGB HWC buffer with the given side.</summary>
        public static (int R, int G, int B) At(byte[] rgb, int side, int x, int y)
        {
            int i = (y * side + x) * 3;
            return (rgb[i], rgb[i + 1], rgb[i + 2]);
        }

        /// <summary>Whether an RGB value is within <paramref name="tolerance"/> of a colour on every channel.</summary>
        public static bool Near((int R, int G, int B) actual, SKColor expected, int tolerance)
            => Math.Abs(actual.R - expected.Red) <= tolerance && Math.Abs(actual.G - expected.Green) <= tolerance
                && Math.Abs(actual.B - expected.Blue) <= tolerance;
    }
}

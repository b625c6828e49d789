// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text;

namespace Microsoft.ML.Freezing.Tests.Reliability
{
    /// <summary>
    /// Image files written byte by byte, for the formats and headers that SkiaSharp's encoders do not produce: PNG of
    /// any colour type and bit depth, baseline JPEG with 1 or 4 components (grayscale, Adobe CMYK), and headers that
    /// claim 30000x30000 pixels.
    /// </summary>
    internal static class ImageFiles
    {
        public const int HugeSide = 30000;

        // ---- PNG ----

        /// <summary>PNG colour types.</summary>
        public enum PngColor { Gray = 0, Rgb = 2, Palette = 3, GrayAlpha = 4, Rgba = 6 }

        /// <summary>
        /// A PNG whose pixel (x, y) has the samples <paramref name="samples"/>(x, y) (one per channel of the colour
        /// type, each 0..2^bitDepth-1; a palette index for <see cref="PngColor.Palette"/>).
        /// </summary>
        public static byte[] Png(int width, int height, PngColor color, int bitDepth, Func<int, int, int[]> samples,
            byte[] palette = null, byte[] transparency = null)
        {
            int channels = color switch { PngColor.Gray => 1, PngColor.Rgb => 3, PngColor.Palette => 1,
                PngColor.GrayAlpha => 2, _ => 4 };
            int sampleBytes = bitDepth / 8;
            var raw = new MemoryStream();
            for (int y = 0; y < height; y++)
            {
                raw.WriteByte(0); // filter: none
                for (int x = 0; x < width; x++)
                {
                    var s = samples(x, y);
                    for (int c = 0; c < channels; c++)
                    {
                        if (sampleBytes == 2) raw.WriteByte((byte)(s[c] >> 8));
                        raw.WriteByte((byte)s[c]);
                    }
                }
            }
            var png = new MemoryStream();
            png.Write(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A });
            WriteChunk(png, "IHDR", Ihdr(width, height, bitDepth, (int)color));
            if (palette != null) WriteChunk(png, "PLTE", palette);
            if (transparency != null) WriteChunk(png, "tRNS", transparency);
            WriteChunk(png, "IDAT", Zlib(raw.ToArray()));
            WriteChunk(png, "IEND", Array.Empty<byte>());
            return png.ToArray();
        }

        /// <summary>A PNG header that claims <paramref name="side"/> x <paramref name="side"/> RGB pixels, followed by
        /// one row of data.</summary>
        public static byte[] HugePng(int side = HugeSide)
        {
            var png = new MemoryStream();
            png.Write(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A });
            WriteChunk(png, "IHDR", Ihdr(side, side, 8, (int)PngColor.Rgb));
            WriteChunk(png, "IDAT", Zlib(new byte[1 + side * 3]));
            WriteChunk(png, "IEND", Array.Empty<byte>());
            return png.ToArray();
        }

        private static byte[] Ihdr(int width, int height, int bitDepth, int colorType)
        {
            var ihdr = new byte[13];
            BigEndian(ihdr, 0, width);
            BigEndian(ihdr, 4, height);
            ihdr[8] = (byte)bitDepth;
            ihdr[9] = (byte)colorType;
            return ihdr; // compression, filter and interlace methods 0
        }

        private static void WriteChunk(Stream png, string type, byte[] data)
        {
            var length = new byte[4];
            BigEndian(length, 0, data.Length);
            png.Write(length);
            var typed = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
            png.Write(typed);
            var crc = new byte[4];
            BigEndian(crc, 0, (int)Crc32(typed));
            png.Write(crc);
        }

        private static byte[] Zlib(byte[] data)
        {
            var output = new MemoryStream();
            using (var z = new ZLibStream(output, CompressionLevel.Optimal, leaveOpen: true))
                z.Write(data);
            return output.ToArray();
        }

        private static uint Crc32(byte[] data)
        {
            uint crc = 0xFFFFFFFF;
            foreach (byte b in data)
            {
                crc ^= b;
                for (int k = 0; k < 8; k++)
                    crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
            }
            return ~crc;
        }

        // ---- JPEG ----

        /// <summary>
        /// A baseline JPEG (quantisation 1, every 8x8 block one flat colour, so only DC coefficients) with one
        /// component (grayscale) or four (CMYK, with Photoshop's Adobe marker: stored values are inverted, 255 = no
        /// ink). <paramref name="block"/>(bx, by) gives the stored component values of block (bx, by).
        /// </summary>
        public static byte[] FlatBlockJpeg(int width, int height, int components, Func<int, int, byte[]> block)
        {
            if (components != 1 && components != 4) throw new ArgumentOutOfRangeException(nameof(components));
            var jpeg = new MemoryStream();
            void Marker(int code, byte[] payload)
            {
                jpeg.WriteByte(0xFF);
                jpeg.WriteByte((byte)code);
                jpeg.WriteByte((byte)((payload.Length + 2) >> 8));
                jpeg.WriteByte((byte)(payload.Length + 2));
                jpeg.Write(payload);
            }
            jpeg.Write(new byte[] { 0xFF, 0xD8 });
            if (components == 4)
                // transform 0: CMYK
                Marker(0xEE, Encoding.ASCII.GetBytes("Adobe").Concat(new byte[] { 0, 100, 0, 0, 0, 0, 0 }).ToArray());
            Marker(0xDB, new byte[] { 0 }.Concat(Enumerable.Repeat((byte)1, 64)).ToArray());
            var sof = new List<byte> { 8, (byte)(height >> 8), (byte)height, (byte)(width >> 8), (byte)width,
                (byte)components };
            for (int c = 0; c < components; c++) sof.AddRange(new byte[] { (byte)(c + 1), 0x11, 0 });
            Marker(0xC0, sof.ToArray());
            // DC table 0: categories 0..11, each a 4-bit code equal to the category. AC table 0: only EOB, code "0".
            var dcCounts = new byte[16];
            dcCounts[3] = 12;
            Marker(0xC4,
                new byte[] { 0x00 }.Concat(dcCounts).Concat(Enumerable.Range(0, 12).Select(i => (byte)i)).ToArray());
            var acCounts = new byte[16];
            acCounts[0] = 1;
            Marker(0xC4, new byte[] { 0x10 }.Concat(acCounts).Concat(new byte[] { 0x00 }).ToArray());
            var sos = new List<byte> { (byte)components };
            for (int c = 0; c < components; c++) sos.AddRange(new byte[] { (byte)(c + 1), 0x00 });
            sos.AddRange(new byte[] { 0, 63, 0 });
            Marker(0xDA, sos.ToArray());

            var bits = new BitWriter(jpeg);
            var previous = new int[components];
            for (int by = 0; by < (height + 7) / 8; by++)
            {
                for (int bx = 0; bx < (width + 7) / 8; bx++)
                {
                    var values = block(bx, by);
                    for (int c = 0; c < components; c++)
                    {
                        int dc = 8 * (values[c] - 128); // the DCT of a flat block: 8 x the level-shifted value
                        int diff = dc - previous[c];
                        previous[c] = dc;
                        int category = diff == 0 ? 0
                            : 32 - System.Numerics.BitOperations.LeadingZeroCount((uint)Math.Abs(diff));
                        bits.Write(category, 4);
                        if (category > 0)
                            bits.Write(diff >= 0 ? diff : diff - 1 + (1 << category), category);
                        bits.Write(0, 1); // EOB
                    }
                }
            }
            bits.Flush();
            jpeg.Write(new byte[] { 0xFF, 0xD9 });
            return jpeg.ToArray();
        }

        /// <summary>A grayscale JPEG header (SOF0) that claims <paramref name="side"/> x <paramref name="side"/>
        /// pixels, with a few bytes of scan.</summary>
        public static byte[] HugeJpeg(int side = HugeSide)
        {
            var full = FlatBlockJpeg(8, 8, 1, (_, _) => new byte[] { 128 });
            // Patch the SOF0 dimensions: FF C0, length (2), precision (1), height (2), width (2).
            int sof = IndexOf(full, new byte[] { 0xFF, 0xC0 });
            full[sof + 5] = (byte)(side >> 8);
            full[sof + 6] = (byte)side;
            full[sof + 7] = (byte)(side >> 8);
            full[sof + 8] = (byte)side;
            return full;
        }

        // ---- GIF, BMP ----

        /// <summary>A GIF whose screen and only frame claim <paramref name="side"/> x <paramref name="side"/> pixels,
        /// with a few bytes of data.</summary>
        public static byte[] HugeGif(int side = HugeSide)
        {
            var gif = new MemoryStream();
            gif.Write(Encoding.ASCII.GetBytes("GIF89a"));
            gif.Write(
                new[] { (byte)side, (byte)(side >> 8), (byte)side, (byte)(side >> 8), (byte)0x80, (byte)0, (byte)0 });
            gif.Write(new byte[] { 0, 0, 0, 255, 255, 255 }); // global colour table, 2 entries
            gif.Write(
                new[] { (byte)0x2C, (byte)0, (byte)0, (byte)0, (byte)0, (byte)side, (byte)(side >> 8), (byte)side,
                (byte)(side >> 8), (byte)0 });
            gif.Write(new byte[] { 2, 2, 0x4C, 0x01, 0, 0x3B }); // LZW minimum code size 2, one sub-block, trailer
            return gif.ToArray();
        }

        /// <summary>
        /// A BMP (BITMAPINFOHEADER, 24 bits) that claims <paramref name="side"/> x <paramref name="side"/> pixels, with
        /// <paramref name="rows"/> rows of data (mid-gray).
        /// </summary>
        public static byte[] HugeBmp(int side = HugeSide, int rows = 1)
        {
            int row = (side * 3 + 3) / 4 * 4;
            var bmp = new byte[14 + 40 + row * rows];
            bmp.AsSpan(54).Fill(128);
            bmp[0] = (byte)'B';
            bmp[1] = (byte)'M';
            LittleEndian(bmp, 2, bmp.Length);
            LittleEndian(bmp, 10, 54);
            LittleEndian(bmp, 14, 40);
            LittleEndian(bmp, 18, side);
            LittleEndian(bmp, 22, side);
            bmp[26] = 1;  // planes
            bmp[28] = 24; // bits per pixel
            return bmp;
        }

        private static void BigEndian(byte[] target, int at, int value)
        {
            target[at] = (byte)(value >> 24);
            target[at + 1] = (byte)(value >> 16);
            target[at + 2] = (byte)(value >> 8);
            target[at + 3] = (byte)value;
        }

        private static void LittleEndian(byte[] target, int at, int value)
        {
            target[at] = (byte)value;
            target[at + 1] = (byte)(value >> 8);
            target[at + 2] = (byte)(value >> 16);
            target[at + 3] = (byte)(value >> 24);
        }

        public static int IndexOf(byte[] haystack, byte[] needle)
        {
            for (int i = 0; i + needle.Length <= haystack.Length; i++)
                if (haystack.AsSpan(i, needle.Length).SequenceEqual(needle))
                    return i;
            return -1;
        }

        /// <summary>MSB-first bit packing with JPEG's byte stuffing (0xFF is followed by 0x00) and 1-bit
        /// padding.</summary>
        private sealed class BitWriter
        {
            private readonly Stream _stream;
            private int _buffer;
            private int _count;

            public BitWriter(Stream stream) => _stream = stream;

            public void Write(int value, int bits)
            {
                for (int b = bits - 1; b >= 0; b--)
                {
                    _buffer = (_buffer << 1) | ((value >> b) & 1);
                    if (++_count == 8)
                        Emit();
                }
            }

            public void Flush()
            {
                while (_count != 0)
                    Write(1, 1);
            }

            private void Emit()
            {
                _stream.WriteByte((byte)_buffer);
                if (_buffer == 0xFF)
                    _stream.WriteByte(0);
                _buffer = 0;
                _count = 0;
            }
        }
    }
}

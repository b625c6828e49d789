// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;
using SkiaSharp;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// SkiaSharp (2.88) decoding and resizing behind <see cref="ImagePreprocessing"/>. Every native object is disposed
    /// here; results are plain RGB byte arrays, height x width x 3.
    /// </summary>
    internal static class SkiaImageCodec
    {
        // Skia allocates one buffer per image; stay below what a 32-bit row index and an int-sized array can address.
        private const long MaxDecodedBytes = int.MaxValue;

        /// <summary>Decodes, orients (EXIF), squares and resizes an encoded image to RGB HWC bytes.</summary>
        /// <remarks>
        /// The dimensions come from the header (<see cref="SKCodec.Info"/> parses no pixel data), so an image larger
        /// than <see cref="ImagePreprocessing.MaxSourcePixels"/> is rejected before any pixel buffer is allocated.
        /// Grayscale, palette, RGBA, 16-bit and CMYK (Adobe, inverted) sources are converted to 8-bit RGB; alpha is
        /// dropped without premultiplying.
        /// </remarks>
        public static byte[] DecodeAndResize(ReadOnlySpan<byte> encoded, ImagePreprocessing preprocessing,
            byte[] into = null)
        {
            if (encoded.IsEmpty)
                throw new InvalidDataException("The image is empty (0 bytes).");
            using var data = SKData.CreateCopy(encoded);
            using var codec = SKCodec.Create(data);
            if (codec is null)
                throw new InvalidDataException(Sniff(encoded) is string format
                    ? $"The bytes start like a {format} image, but its header is incomplete or damaged " +
                    $"({Describe(encoded)}); the file looks truncated or corrupt."
                    : $"The bytes are not a decodable image ({Describe(encoded)}); PNG, JPEG, GIF, BMP, WEBP and ICO " +
                    "can be read.");
            var encodedInfo = codec.Info;
            CheckDimensions(codec.EncodedFormat.ToString(), encodedInfo.Width, encodedInfo.Height);

            // Unpremultiplied in and out makes Skia's ScalePixels resample the colour channels without premultiplying,
            // so transparent pixels keep their colour and dropping alpha afterwards matches PIL's convert("RGB").
            // No colour space: the stored values are used as they are, as torchvision does.
            var alpha = encodedInfo.AlphaType == SKAlphaType.Opaque ? SKAlphaType.Opaque : SKAlphaType.Unpremul;
            var info = new SKImageInfo(encodedInfo.Width, encodedInfo.Height, SKColorType.Rgba8888, alpha);
            using var bitmap = new SKBitmap(info);
            if (bitmap.GetPixels() == IntPtr.Zero)
                throw new InvalidDataException(
                    $"Could not allocate {info.Width}x{info.Height} pixels to decode the image.");
            var result = codec.GetPixels(info, bitmap.GetPixels());
            if (result != SKCodecResult.Success)
                throw new InvalidDataException(result == SKCodecResult.IncompleteInput
                    ? $"The {codec.EncodedFormat} image ({info.Width}x{info.Height}) is incomplete; the file looks " +
                    "truncated."
                    : $"The {codec.EncodedFormat} image ({info.Width}x{info.Height}) could not be decoded: {result}.");

            var origin = preprocessing.ApplyExifOrientation ? codec.EncodedOrigin : SKEncodedOrigin.TopLeft;
            using var pixmap = bitmap.PeekPixels();
            return Resize(pixmap, preprocessing, origin, into);
        }

        /// <summary>Resizes 32-bit BGRA or RGBA pixels (row-major, no padding) to RGB HWC bytes.</summary>
        public static byte[] ResizePixels(ReadOnlySpan<byte> pixels, int width, int height, bool bgra,
            ImagePreprocessing preprocessing)
        {
            if (width < 1 || height < 1 || (long)width * height * 4 > MaxDecodedBytes)
                throw new ArgumentOutOfRangeException(nameof(width), $"Unusable image dimensions {width}x{height}.");
            if (pixels.Length != width * height * 4)
                throw new ArgumentException(
                    $"A {width}x{height} image of 32-bit pixels has {width * height * 4} bytes; got {pixels.Length}.",
                    nameof(pixels));
            // Opaque: alpha is ignored, as the colour values are all the network sees.
            var info = new SKImageInfo(width, height, bgra ? SKColorType.Bgra8888 : SKColorType.Rgba8888,
                SKAlphaType.Opaque);
            using var bitmap = new SKBitmap(info);
            using var pixmap = bitmap.PeekPixels();
            CopyRows(pixels, width * 4, pixmap.GetPixelSpan<byte>(), pixmap.RowBytes, height);
            return Resize(pixmap, preprocessing, SKEncodedOrigin.TopLeft);
        }

        /// <summary>Rejects dimensions that are empty or above
        /// <see cref="ImagePreprocessing.MaxSourcePixels"/>.</summary>
        private static void CheckDimensions(string format, int width, int height)
        {
            if (width < 1 || height < 1)
                throw new InvalidDataException($"The {format} image has unusable dimensions {width}x{height}.");
            long pixels = (long)width * height;
            if (pixels > ImagePreprocessing.MaxSourcePixels || pixels * 4 > MaxDecodedBytes)
                throw new InvalidDataException(
                    $"The {format} image's header claims {width}x{height} = {pixels:N0} pixels, more than the limit " +
                    "of " +
                    $"{ImagePreprocessing.MaxSourcePixels:N0} (ImagePreprocessing.MaxSourcePixels); it was rejected " +
                    "before decoding.");
        }

        /// <summary>The Skia filter quality of an interpolation (SkiaSharp 2.88 has no SKSamplingOptions).</summary>
        internal static SKFilterQuality FilterQuality(ImageInterpolation interpolation) => interpolation switch
        {
            ImageInterpolation.Nearest => SKFilterQuality.None,
            // Medium = bilinear plus mipmaps when shrinking; Low would alias badly on large downscales.
            ImageInterpolation.Bilinear => SKFilterQuality.Medium,
            ImageInterpolation.Bicubic => SKFilterQuality.High,
            _ => throw new ArgumentOutOfRangeException(nameof(interpolation)),
        };

        /// <summary>The part of a width x height image that is resized: all of it, or its centred square.</summary>
        internal static SKRectI SourceRect(int width, int height, ImageResizeMode mode)
        {
            if (mode == ImageResizeMode.Stretch)
                return new SKRectI(0, 0, width, height);
            // Scaling the shorter side to the output and cropping the centre equals cropping the centred square of
            // side min(width, height) first, and scaling it then touches fewer pixels.
            int side = Math.Min(width, height);
            int left = (width - side) / 2, top = (height - side) / 2;
            return new SKRectI(left, top, left + side, top + side);
        }

        /// <summary>
        /// Where the pixel shown at (x, y) of an upright side x side image is stored, for an EXIF origin (TIFF
        /// orientation 1-8). Square images only: orientation is applied after resizing, which commutes with it.
        /// </summary>
        internal static (int X, int Y) StoredPixel(SKEncodedOrigin origin, int x, int y, int side)
        {
            int last = side - 1;
            return origin switch
            {
                SKEncodedOrigin.TopRight => (last - x, y),        // 2: mirrored horizontally
                SKEncodedOrigin.BottomRight => (last - x, last - y), // 3: rotated 180
                SKEncodedOrigin.BottomLeft => (x, last - y),      // 4: mirrored vertically
                SKEncodedOrigin.LeftTop => (y, x),                // 5: transposed
                SKEncodedOrigin.RightTop => (y, last - x),        // 6: shown rotated 90 clockwise
                SKEncodedOrigin.RightBottom => (last - y, last - x), // 7: transverse
                SKEncodedOrigin.LeftBottom => (last - y, x),      // 8: shown rotated 90 counter-clockwise
                _ => (x, y),                                      // 1: upright
            };
        }

        private static byte[] Resize(SKPixmap source, ImagePreprocessing preprocessing, SKEncodedOrigin origin,
            byte[] into = null)
        {
            int side = preprocessing.ImageSize;
            var rect = SourceRect(source.Width, source.Height, preprocessing.Resize);
            using var crop = rect.Width == source.Width && rect.Height == source.Height ? null
                : source.ExtractSubset(rect);
            var from = crop ?? source;
            // Same alpha type as the source: Unpremul to Unpremul is Skia's "resample without premultiplying" path.
            var info = new SKImageInfo(side, side, SKColorType.Rgba8888, source.AlphaType);
            using var resized = new SKBitmap(info);
            using var target = resized.PeekPixels();
            if (!from.ScalePixels(target, FilterQuality(preprocessing.Interpolation)))
                throw new InvalidDataException(
                    $"Skia could not resize a {from.Width}x{from.Height} image to {side}x{side}.");
            // SKPixmap.GetPixelSpan<T>() has the same signature in SkiaSharp 2.88 and 3.x; SKBitmap.GetPixelSpan() does
            // not (ReadOnlySpan in 2.88, Span in 3.x), so calling it breaks apps that use SkiaSharp 3 (e.g. through
            // ScottPlot 5.1).
            return ToRgb(target.GetPixelSpan<byte>(), target.RowBytes, side, origin, into);
        }

        // RGBA rows -> RGB HWC, reading each output pixel from where the EXIF origin stored it.
        private static byte[] ToRgb(ReadOnlySpan<byte> rgba, int rowBytes, int side, SKEncodedOrigin origin,
            byte[] into)
        {
            var rgb = into?.Length == side * side * 3 ? into : new byte[side * side * 3];
            if (origin == SKEncodedOrigin.TopLeft)
            {
                // Upright, the usual case: straight row copies, without the per-pixel lookup (a PredictionEngine's
                // latency counts every 0.1 ms).
                for (int y = 0; y < side; y++)
                {
                    var row = rgba.Slice(y * rowBytes, side * 4);
                    var target = rgb.AsSpan(y * side * 3, side * 3);
                    for (int x = 0, i = 0, t = 0; x < side; x++, i += 4, t += 3)
                    {
                        target[t] = row[i];
                        target[t + 1] = row[i + 1];
                        target[t + 2] = row[i + 2];
                    }
                }
                return rgb;
            }
            int o = 0;
            for (int y = 0; y < side; y++)
            {
                for (int x = 0; x < side; x++, o += 3)
                {
                    var (sx, sy) = StoredPixel(origin, x, y, side);
                    int i = sy * rowBytes + sx * 4;
                    rgb[o] = rgba[i];
                    rgb[o + 1] = rgba[i + 1];
                    rgb[o + 2] = rgba[i + 2];
                }
            }
            return rgb;
        }

        private static void CopyRows(ReadOnlySpan<byte> source, int sourceRowBytes, Span<byte> target,
            int targetRowBytes, int rows)
        {
            if (sourceRowBytes == targetRowBytes)
            {
                source.CopyTo(target);
                return;
            }
            for (int r = 0; r < rows; r++)
                source.Slice(r * sourceRowBytes, sourceRowBytes)
                    .CopyTo(target.Slice(r * targetRowBytes, sourceRowBytes));
        }

        // The format a file's first bytes announce, for the message when Skia cannot read its header.
        private static string Sniff(ReadOnlySpan<byte> bytes)
        {
            if (bytes.StartsWith(new byte[] { 0xFF, 0xD8, 0xFF })) return "JPEG";
            if (bytes.StartsWith(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' })) return "PNG";
            if (bytes.StartsWith("GIF8"u8)) return "GIF";
            if (bytes.StartsWith("BM"u8) && bytes.Length >= 6) return "BMP";
            if (bytes.StartsWith("RIFF"u8) && bytes.Length >= 12 && bytes.Slice(8, 4).SequenceEqual("WEBP"u8))
                return "WEBP";
            return null;
        }

        private static string Describe(ReadOnlySpan<byte> bytes)
        {
            var head = bytes.Slice(0, Math.Min(8, bytes.Length));
            return $"{bytes.Length} bytes starting {Convert.ToHexString(head)}";
        }
    }
}

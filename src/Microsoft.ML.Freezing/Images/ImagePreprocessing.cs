// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>How an image of any shape becomes a square.</summary>
    public enum ImageResizeMode
    {
        /// <summary>Scale each axis to the output side, ignoring the aspect ratio.</summary>
        Stretch = 0,
        /// <summary>Scale the shorter side to the output side keeping the aspect ratio, then cut out the centre
        /// (torchvision).</summary>
        CenterCrop = 1,
    }

    /// <summary>The resampling filter used when resizing.</summary>
    public enum ImageInterpolation
    {
        /// <summary>Bilinear; when shrinking, Skia blends between mipmap levels (an antialiased bilinear, close to
        /// PIL's).</summary>
        Bilinear = 0,
        /// <summary>Nearest neighbour.</summary>
        Nearest = 1,
        /// <summary>Bicubic when enlarging; Skia falls back to the bilinear mipmap filter when shrinking.</summary>
        Bicubic = 2,
    }

    /// <summary>The order of colour channels the network expects.</summary>
    public enum ChannelOrder
    {
        /// <summary>Red, green, blue (torchvision).</summary>
        Rgb = 0,
        /// <summary>Blue, green, red (Caffe, some CNTK and Keras models).</summary>
        Bgr = 1,
    }

    /// <summary>
    /// The image preprocessing of one model: decoding, orientation, resizing to a square, channel order and
    /// normalisation. It is recorded with the model and read by training, prediction and export alike, so they cannot
    /// drift apart. Immutable; <c>With...</c> methods return changed copies.
    /// </summary>
    /// <remarks>
    /// Pixels are stored as RGB bytes, height x width x 3 (<see cref="DecodeAndResize"/>); the channel order and the
    /// arithmetic <c>(v * Scale - Mean[c]) / Std[c]</c> are applied by <see cref="Normalize"/>.
    /// </remarks>
    public sealed class ImagePreprocessing : IEquatable<ImagePreprocessing>
    {
        /// <summary>Version of the binary form written by <see cref="Save"/>.</summary>
        public const int FormatVersion = 1;

        /// <summary>The largest output side accepted.</summary>
        public const int MaxImageSize = 4096;

        /// <summary>
        /// The largest source image decoded, in pixels (width x height): 178,956,970, the size at which PIL raises
        /// <c>DecompressionBombError</c>, so anything torchvision's loader accepts is accepted here. Larger images are
        /// rejected from their header, before a pixel buffer (4 bytes per pixel, at most 716 MB) is allocated.
        /// </summary>
        public const long MaxSourcePixels = 178_956_970;

        private readonly float[] _mean;
        private readonly float[] _std;
        private PixelNormalizer _normalizer;

        /// <summary>Creates a preprocessing contract.</summary>
        /// <param name="imageSize">Side of the square output, 1 to <see cref="MaxImageSize"/>.</param>
        /// <param name="scale">Multiplies the 0-255 values first: 1/255 for torchvision, 1 for CNTK/Keras.</param>
        /// <param name="mean">Three means, in the network's channel order, subtracted after scaling.</param>
        /// <param name="std">Three positive standard deviations, in the network's channel order.</param>
        /// <param name="channels">The network's channel order.</param>
        /// <param name="resize">How a non-square image becomes square.</param>
        /// <param name="interpolation">The resampling filter.</param>
        /// <param name="applyExifOrientation">Whether to turn JPEGs upright by their EXIF orientation.</param>
        public ImagePreprocessing(int imageSize, float scale, float[] mean, float[] std,
            ChannelOrder channels = ChannelOrder.Rgb, ImageResizeMode resize = ImageResizeMode.CenterCrop,
            ImageInterpolation interpolation = ImageInterpolation.Bilinear, bool applyExifOrientation = true)
        {
            if (imageSize < 1 || imageSize > MaxImageSize)
                throw new ArgumentOutOfRangeException(nameof(imageSize), imageSize,
                    $"The image size must be between 1 and {MaxImageSize}.");
            if (!float.IsFinite(scale) || scale <= 0)
                throw new ArgumentOutOfRangeException(nameof(scale), scale,
                    "The scale must be a positive finite number.");
            CheckTriple(mean, nameof(mean), positive: false);
            CheckTriple(std, nameof(std), positive: true);
            if (!Enum.IsDefined(channels))
                throw new ArgumentOutOfRangeException(nameof(channels), channels, "Unknown channel order.");
            if (!Enum.IsDefined(resize))
                throw new ArgumentOutOfRangeException(nameof(resize), resize, "Unknown resize mode.");
            if (!Enum.IsDefined(interpolation))
                throw new ArgumentOutOfRangeException(nameof(interpolation), interpolation, "Unknown interpolation.");
            ImageSize = imageSize;
            Scale = scale;
            _mean = (float[])mean.Clone();
            _std = (float[])std.Clone();
            Channels = channels;
            Resize = resize;
            Interpolation = interpolation;
            ApplyExifOrientation = applyExifOrientation;
        }

        /// <summary>
        /// torchvision's ImageNet preprocessing: RGB, scale 1/255, mean (0.485, 0.456, 0.406), std (0.229, 0.224,
        /// 0.225), centre crop, bilinear, EXIF orientation applied.
        /// </summary>
        public static ImagePreprocessing ImageNet(int imageSize = 224)
            => new ImagePreprocessing(imageSize, 1f / 255, new[] { 0.485f, 0.456f, 0.406f },
                new[] { 0.229f, 0.224f, 0.225f });

        /// <summary>Side of the square output in pixels.</summary>
        public int ImageSize { get; }
        /// <summary>How a non-square image becomes square. Default <see cref="ImageResizeMode.CenterCrop"/>.</summary>
        public ImageResizeMode Resize { get; }
        /// <summary>The resampling filter. Default <see cref="ImageInterpolation.Bilinear"/>.</summary>
        public ImageInterpolation Interpolation { get; }
        /// <summary>Whether decoding turns images upright by their EXIF orientation. Default true.</summary>
        public bool ApplyExifOrientation { get; }
        /// <summary>The network's channel order. Default <see cref="ChannelOrder.Rgb"/>.</summary>
        public ChannelOrder Channels { get; }
        /// <summary>Multiplies the 0-255 values before the mean is subtracted.</summary>
        public float Scale { get; }
        /// <summary>Per-channel means in the network's channel order (a copy).</summary>
        public float[] Mean => (float[])_mean.Clone();
        /// <summary>Per-channel standard deviations in the network's channel order (a copy).</summary>
        public float[] Std => (float[])_std.Clone();

        /// <summary>A copy with another output side.</summary>
        public ImagePreprocessing WithImageSize(int imageSize)
            => new ImagePreprocessing(imageSize, Scale, _mean, _std, Channels, Resize, Interpolation,
                ApplyExifOrientation);
        /// <summary>A copy with another resize mode.</summary>
        public ImagePreprocessing WithResize(ImageResizeMode resize)
            => new ImagePreprocessing(ImageSize, Scale, _mean, _std, Channels, resize, Interpolation,
                ApplyExifOrientation);
        /// <summary>A copy with another resampling filter.</summary>
        public ImagePreprocessing WithInterpolation(ImageInterpolation interpolation)
            => new ImagePreprocessing(ImageSize, Scale, _mean, _std, Channels, Resize, interpolation,
                ApplyExifOrientation);
        /// <summary>A copy that does or does not apply the EXIF orientation.</summary>
        public ImagePreprocessing WithExifOrientation(bool apply)
            => new ImagePreprocessing(ImageSize, Scale, _mean, _std, Channels, Resize, Interpolation, apply);
        /// <summary>A copy with another channel order (the mean and std keep their order: give them in the new
        /// one).</summary>
        public ImagePreprocessing WithChannels(ChannelOrder channels)
            => new ImagePreprocessing(ImageSize, Scale, _mean, _std, channels, Resize, Interpolation,
                ApplyExifOrientation);
        /// <summary>A copy with another scale, mean and std (mean and std in the network's channel order).</summary>
        public ImagePreprocessing WithNormalization(float scale, float[] mean, float[] std)
            => new ImagePreprocessing(ImageSize, scale, mean, std, Channels, Resize, Interpolation,
                ApplyExifOrientation);

        /// <summary>
        /// Decodes an encoded image (PNG, JPEG, GIF, BMP, WEBP, ICO) and resizes it to RGB bytes,
        /// <see cref="ImageSize"/> x <see cref="ImageSize"/> x 3 (row-major, height x width x channel).
        /// </summary>
        /// <exception cref="InvalidDataException">
        /// The bytes are not a decodable image, are truncated, or claim more than <see cref="MaxSourcePixels"/> pixels.
        /// </exception>
        public byte[] DecodeAndResize(ReadOnlySpan<byte> encoded) => SkiaImageCodec.DecodeAndResize(encoded, this);

        /// <summary>
        /// <see cref="DecodeAndResize"/> into <paramref name="into"/> (ImageSize x ImageSize x 3
        /// bytes; a new array when null or of another length), which it returns: a prediction path that decodes one
        /// image at a time reuses one array rather than allocating 150 KB (at 224 px) of fresh memory per image.
        /// </summary>
        internal byte[] DecodeAndResizeInto(ReadOnlySpan<byte> encoded, byte[] into)
            => SkiaImageCodec.DecodeAndResize(encoded, this, into);

        /// <summary>
        /// Resizes already-decoded 32-bit pixels (BGRA32 or RGBA32, row-major, as ML.NET's <c>MLImage</c> holds them)
        /// to RGB bytes, <see cref="ImageSize"/> x <see cref="ImageSize"/> x 3. Alpha is ignored; no EXIF orientation
        /// is known.
        /// </summary>
        public byte[] ResizePixels(ReadOnlySpan<byte> pixels, int width, int height, bool bgra)
            => SkiaImageCodec.ResizePixels(pixels, width, height, bgra, this);

        /// <summary>
        /// Turns RGB bytes [B, H, W, 3] (uint8) into the network's input [B, 3, H, W] (float32): channel order applied,
        /// then <c>(v * Scale - Mean[c]) / Std[c]</c>. The result is on the input's device; the caller owns it.
        /// </summary>
        public Tensor Normalize(Tensor rgbHwcBytes)
        {
            if (rgbHwcBytes is null) throw new ArgumentNullException(nameof(rgbHwcBytes));
            if (rgbHwcBytes.dtype != ScalarType.Byte || rgbHwcBytes.dim() != 4 || rgbHwcBytes.shape[3] != 3)
                throw new ArgumentException(
                    $"Expected uint8 RGB images [B, H, W, 3]; got {rgbHwcBytes.dtype} " +
                    $"[{string.Join(", ", rgbHwcBytes.shape)}].",
                    nameof(rgbHwcBytes));
            if (rgbHwcBytes.device_type == TorchSharp.DeviceType.CPU)
                return NormalizeOnCpu(rgbHwcBytes);
            using var scope = NewDisposeScope();
            var x = rgbHwcBytes.permute(0, 3, 1, 2);
            if (Channels == ChannelOrder.Bgr)
                x = x.flip(1);
            var gain = tensor(Normalizer.Gain.ToArray(), float32, x.device).view(1, 3, 1, 1);
            var offset = tensor(Normalizer.Offset.ToArray(), float32, x.device).view(1, 3, 1, 1);
            // Make the bytes contiguous before widening them, so the float result is laid out [B, 3, H, W].
            return x.contiguous().to_type(float32).mul_(gain).AddInPlace(offset).MoveToOuterDisposeScope();
        }

        // One pass over the bytes into the result's memory (see PixelNormalizer).
        private Tensor NormalizeOnCpu(Tensor rgbHwcBytes)
        {
            long count = rgbHwcBytes.shape[0], height = rgbHwcBytes.shape[1], width = rgbHwcBytes.shape[2];
            int imageBytes = checked((int)(height * width * 3));
            var result = empty(new[] { count, 3, height, width }, float32);
            using var contiguous = rgbHwcBytes.contiguous();
            var source = contiguous.bytes;
            var target = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(result.bytes);
            for (int i = 0; i < count; i++)
                Normalizer.Write(source.Slice(i * imageBytes, imageBytes), i, target);
            return result;
        }

        /// <summary>
        /// <see cref="Normalize(Tensor)"/> for RGB images of <see cref="ImageSize"/> x <see cref="ImageSize"/> x 3
        /// bytes each, on the CPU, without stacking their bytes first.
        /// </summary>
        internal Tensor NormalizeImages(IReadOnlyList<byte[]> rgbImages)
        {
            var result = empty(new long[] { rgbImages.Count, 3, ImageSize, ImageSize }, float32);
            try
            {
                Normalizer.WriteBatch(rgbImages, ImageSize,
                    System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(result.bytes));
                return result;
            }
            catch
            {
                result.Dispose();
                throw;
            }
        }

        /// <summary>The normalisation's arithmetic, per network channel.</summary>
        internal PixelNormalizer Normalizer => _normalizer ??= new PixelNormalizer(this);

        // Binary format, version 1 (mirrored in Load):
        //   int32   version (1)
        //   int32   image size (1..MaxImageSize)
        //   int32   resize mode (ImageResizeMode: 0 Stretch, 1 CenterCrop)
        //   int32   interpolation (ImageInterpolation: 0 Bilinear, 1 Nearest, 2 Bicubic)
        //   byte    apply EXIF orientation (0 or 1)
        //   int32   channel order (ChannelOrder: 0 Rgb, 1 Bgr)
        //   float32 scale (> 0)
        //   float32 x 3  mean, network channel order
        //   float32 x 3  std (> 0), network channel order
        /// <summary>Writes the versioned binary form (see the format comment in the source).</summary>
        public void Save(BinaryWriter writer)
        {
            if (writer is null) throw new ArgumentNullException(nameof(writer));
            writer.Write(FormatVersion);
            writer.Write(ImageSize);
            writer.Write((int)Resize);
            writer.Write((int)Interpolation);
            writer.Write((byte)(ApplyExifOrientation ? 1 : 0));
            writer.Write((int)Channels);
            writer.Write(Scale);
            foreach (var m in _mean) writer.Write(m);
            foreach (var s in _std) writer.Write(s);
        }

        // Binary format, version 1 (mirrored in Save):
        //   int32   version (1)
        //   int32   image size (1..MaxImageSize)
        //   int32   resize mode (ImageResizeMode: 0 Stretch, 1 CenterCrop)
        //   int32   interpolation (ImageInterpolation: 0 Bilinear, 1 Nearest, 2 Bicubic)
        //   byte    apply EXIF orientation (0 or 1)
        //   int32   channel order (ChannelOrder: 0 Rgb, 1 Bgr)
        //   float32 scale (> 0)
        //   float32 x 3  mean, network channel order
        //   float32 x 3  std (> 0), network channel order
        /// <summary>Reads what <see cref="Save"/> wrote.</summary>
        /// <exception cref="InvalidDataException">Unknown version, a value out of range, or the stream ends
        /// early.</exception>
        public static ImagePreprocessing Load(BinaryReader reader)
        {
            if (reader is null) throw new ArgumentNullException(nameof(reader));
            try
            {
                int version = reader.ReadInt32();
                if (version != FormatVersion)
                    throw Invalid($"unknown format version {version} (this build reads version {FormatVersion})");
                int imageSize = reader.ReadInt32();
                var resize = (ImageResizeMode)reader.ReadInt32();
                var interpolation = (ImageInterpolation)reader.ReadInt32();
                byte exif = reader.ReadByte();
                if (exif > 1)
                    throw Invalid($"the EXIF orientation flag is {exif}, not 0 or 1");
                var channels = (ChannelOrder)reader.ReadInt32();
                float scale = reader.ReadSingle();
                var mean = new[] { reader.ReadSingle(), reader.ReadSingle(), reader.ReadSingle() };
                var std = new[] { reader.ReadSingle(), reader.ReadSingle(), reader.ReadSingle() };
                return new ImagePreprocessing(imageSize, scale, mean, std, channels, resize, interpolation, exif == 1);
            }
            catch (EndOfStreamException e)
            {
                throw new InvalidDataException(
                    "Invalid image preprocessing record: the stream ended early (truncated model?).", e);
            }
            catch (ArgumentException e)
            {
                throw new InvalidDataException($"Invalid image preprocessing record: {e.Message}", e);
            }
        }

        private static InvalidDataException Invalid(string what)
            => new InvalidDataException($"Invalid image preprocessing record: {what}.");

        private static void CheckTriple(float[] values, string name, bool positive)
        {
            if (values is null || values.Length != 3)
                throw new ArgumentException(
                    $"{name} needs exactly 3 values (one per channel); got {values?.Length ?? 0}.", name);
            foreach (var v in values)
            {
                if (!float.IsFinite(v) || (positive && v <= 0))
                    throw new ArgumentException(
                        $"{name} values must be finite{(positive ? " and positive" : "")}; got {Format(values)}.",
                        name);
            }
        }

        private static string Format(float[] values)
            => "[" + string.Join(", ", values.Select(v => v.ToString("G6", CultureInfo.InvariantCulture))) + "]";

        /// <inheritdoc/>
        public bool Equals(ImagePreprocessing other)
            => other is not null && ImageSize == other.ImageSize && Resize == other.Resize
                && Interpolation == other.Interpolation
                && ApplyExifOrientation == other.ApplyExifOrientation && Channels == other.Channels
                && Scale.Equals(other.Scale)
                && _mean.SequenceEqual(other._mean) && _std.SequenceEqual(other._std);

        /// <inheritdoc/>
        public override bool Equals(object obj) => Equals(obj as ImagePreprocessing);

        /// <inheritdoc/>
        public override int GetHashCode()
            => HashCode.Combine(ImageSize, Resize, Interpolation, ApplyExifOrientation, Channels, Scale, _mean[0],
                _std[0]);

        /// <summary>For example <c>224x224 CenterCrop Bilinear EXIF Rgb scale=0.00392157 mean=[0.485, 0.456, 0.406]
        /// std=[0.229, 0.224, 0.225]</c>.</summary>
        public override string ToString()
            => $"{ImageSize}x{ImageSize} {Resize} {Interpolation} {(ApplyExifOrientation ? "EXIF" : "no-EXIF")} "
                + $"{Channels} "
                + $"scale={Scale.ToString("G6", CultureInfo.InvariantCulture)} mean={Format(_mean)} std={Format(_std)}";
    }
}

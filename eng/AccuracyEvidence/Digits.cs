// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Globalization;
using System.IO;
using System.IO.Compression;
using Samples;
using SkiaSharp;

namespace AccuracyEvidence
{
    /// <summary>
    /// scikit-learn's digits (UCI's optical handwritten digits: 1,797 8x8 grey images of 0-9, pixel values 0-16;
    /// BSD-3-Clause) as Model Builder's folder layout. Debian's <c>python3-sklearn</c> (installed by
    /// <c>eng/fetch-digits.sh</c>) ships them as <see cref="SourceFile"/>, one image a row: 64 pixel values, then the
    /// label. Written once as <c>images/&lt;digit&gt;/0000.png</c> (values × 255 / 16) under
    /// <c>AssetFolders.Asset("digits")</c>.
    /// </summary>
    public static class Digits
    {
        public const string Name = "digits";
        public const string SourceFile = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz";
        private const int Side = 8;

        /// <summary>The image folder, writing it first when needed.</summary>
        public static string EnsureImages()
        {
            string images = Path.Combine(AssetFolders.Asset(Name), "images");
            if (Directory.Exists(images))
                return images;
            if (!File.Exists(SourceFile) && (!RepositoryScripts.TryRun("fetch-digits.sh") || !File.Exists(SourceFile)))
            {
                throw new InvalidOperationException(
                    $"digits: {SourceFile} is missing; run eng/fetch-digits.sh (Debian's python3-sklearn).");
            }
            Console.WriteLine($"Writing the digits images to {images} ...");
            ImageAssets.WriteOnce(images, Write);
            return images;
        }

        private static void Write(string folder)
        {
            using var reader = new StreamReader(new GZipStream(File.OpenRead(SourceFile), CompressionMode.Decompress));
            var info = new SKImageInfo(Side, Side, SKColorType.Gray8, SKAlphaType.Opaque);
            var pixels = new byte[Side * Side];
            int n = 0;
            for (string line; (line = reader.ReadLine()) != null;)
            {
                if (line.Length == 0)
                    continue;
                var fields = line.Split(',');
                if (fields.Length != Side * Side + 1)
                {
                    throw new InvalidDataException(
                        $"{SourceFile}: row {n} has {fields.Length} values, not {Side * Side + 1}.");
                }
                for (int p = 0; p < pixels.Length; p++)
                {
                    double value = double.Parse(fields[p], CultureInfo.InvariantCulture);
                    if (value < 0 || value > 16)
                        throw new InvalidDataException($"{SourceFile}: row {n} pixel {p} is {value}, outside 0-16.");
                    pixels[p] = (byte)Math.Round(value * 255 / 16);
                }
                int label = (int)double.Parse(fields[^1], CultureInfo.InvariantCulture);
                if (label < 0 || label > 9)
                    throw new InvalidDataException($"{SourceFile}: row {n} has label {label}.");
                string classFolder = Path.Combine(folder, label.ToString(CultureInfo.InvariantCulture));
                Directory.CreateDirectory(classFolder);
                using var data = SKData.CreateCopy(pixels);
                using var image = SKImage.FromPixels(info, data, info.RowBytes);
                using var png = image.Encode(SKEncodedImageFormat.Png, 100);
                File.WriteAllBytes(Path.Combine(classFolder, $"{n:0000}.png"), png.ToArray());
                n++;
            }
            if (n != 1797)
                throw new InvalidDataException($"{SourceFile}: {n} images, not scikit-learn's 1,797.");
        }
    }
}

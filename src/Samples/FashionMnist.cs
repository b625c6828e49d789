// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Buffers.Binary;
using System.IO;
using System.IO.Compression;
using SkiaSharp;

namespace Samples
{
    /// <summary>
    /// A Fashion-MNIST subset as Model Builder's folder layout: the first 400 images of each of the 10 classes in the
    /// official training file (28x28 grey, Zalando, MIT; Debian's <c>dataset-fashion-mnist</c>, installed by
    /// <c>eng/fetch-fashion-mnist.sh</c>), written once as <c>images/&lt;class&gt;/00000.png</c> under
    /// <c>AssetFolders.Asset("fashion-mnist")</c>. 4,000 images: with a 0.25 validation fraction, 3,000 train and
    /// 1,000 held out, 100 per class.
    /// </summary>
    public static class FashionMnist
    {
        /// <summary>Images taken per class.</summary>
        public const int PerClass = 400;

        /// <summary>Where Debian's package puts the IDX files.</summary>
        public const string SourceFolder = "/usr/share/datasets/fashion-mnist";

        /// <summary>The class names in label order (folder names: '/' and ' ' replaced).</summary>
        public static readonly string[] ClassNames =
            { "T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                "Ankle_boot" };

        /// <summary>The image folder, fetching and writing it first when needed.</summary>
        public static string EnsureImages()
        {
            string images = Path.Combine(AssetFolders.Asset("fashion-mnist"), "images");
            if (Directory.Exists(images))
                return images;
            string imageFile = Path.Combine(SourceFolder, "train-images-idx3-ubyte.gz");
            string labelFile = Path.Combine(SourceFolder, "train-labels-idx1-ubyte.gz");
            if (!File.Exists(imageFile) || !File.Exists(labelFile))
            {
                if (!RepositoryScripts.TryRun("fetch-fashion-mnist.sh") || !File.Exists(imageFile))
                    throw new UsageException(
                        $"Fashion-MNIST is missing ({imageFile}). Install Debian's dataset-fashion-mnist " +
                        "(eng/fetch-fashion-mnist.sh in the repository) or pass --data <folder with one subfolder " +
                        "per class>.");
            }
            Console.WriteLine($"Writing {PerClass} Fashion-MNIST images per class to {images} ...");
            ImageAssets.WriteOnce(images,
                temp => WriteSubset(ReadIdx(imageFile, 0x803), ReadIdx(labelFile, 0x801), temp));
            return images;
        }

        private static void WriteSubset(Idx images, Idx labels, string folder)
        {
            if (images.Dimensions.Length != 3 || labels.Dimensions.Length != 1
                || images.Dimensions[0] != labels.Dimensions[0])
                throw new InvalidDataException("Fashion-MNIST: the image and label files do not match.");
            int side = images.Dimensions[1], count = images.Dimensions[0];
            if (images.Dimensions[2] != side)
                throw new InvalidDataException("Fashion-MNIST: images are not square.");
            var written = new int[ClassNames.Length];
            var info = new SKImageInfo(side, side, SKColorType.Gray8, SKAlphaType.Opaque);
            for (int n = 0; n < count; n++)
            {
                int label = labels.Data[n];
                if (label >= ClassNames.Length)
                    throw new InvalidDataException($"Fashion-MNIST: label {label} at image {n} is out of range.");
                if (written[label] == PerClass)
                    continue;
                string classFolder = Path.Combine(folder, ClassNames[label]);
                Directory.CreateDirectory(classFolder);
                using var data = SKData.CreateCopy(images.Data.AsSpan(n * side * side, side * side));
                using var image = SKImage.FromPixels(info, data, info.RowBytes);
                using var png = image.Encode(SKEncodedImageFormat.Png, 100);
                File.WriteAllBytes(Path.Combine(classFolder, $"{n:00000}.png"), png.ToArray());
                written[label]++;
            }
            int incomplete = Array.FindIndex(written, w => w < PerClass);
            if (incomplete >= 0)
                throw new InvalidDataException(
                    $"Fashion-MNIST: only {written[incomplete]} images of class {ClassNames[incomplete]}.");
        }

        private sealed record Idx(int[] Dimensions, byte[] Data);

        /// <summary>Reads a gzip-compressed IDX file of unsigned bytes (big-endian header: magic, then one int per
        /// dimension).</summary>
        private static Idx ReadIdx(string path, int magic)
        {
            using var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
            using var buffer = new MemoryStream();
            gzip.CopyTo(buffer);
            var bytes = buffer.GetBuffer().AsSpan(0, (int)buffer.Length);
            if (bytes.Length < 8 || BinaryPrimitives.ReadInt32BigEndian(bytes) != magic)
                throw new InvalidDataException($"{path}: not an IDX file of magic 0x{magic:X}.");
            int rank = magic & 0xFF;
            var dimensions = new int[rank];
            long size = 1;
            for (int d = 0; d < rank; d++)
            {
                dimensions[d] = BinaryPrimitives.ReadInt32BigEndian(bytes.Slice(4 + 4 * d));
                size *= dimensions[d];
            }
            int offset = 4 + 4 * rank;
            if (bytes.Length - offset != size)
                throw new InvalidDataException(
                    $"{path}: expected {size} bytes of data, found {bytes.Length - offset}.");
            return new Idx(dimensions, bytes.Slice(offset).ToArray());
        }
    }
}

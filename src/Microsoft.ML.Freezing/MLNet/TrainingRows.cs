// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Data;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Labelled images read once from an <see cref="IDataView"/> and preprocessed to RGB bytes, ready for the engine.
    /// Rows with a missing label (key 0) are counted, not kept; rows whose image cannot be read fail the read or, with
    /// <see cref="InvalidImagePolicy.Skip"/>, are counted and left out.
    /// </summary>
    internal sealed class TrainingRows
    {
        /// <summary>How many reasons for skipped images the log quotes.</summary>
        private const int QuotedReasons = 3;

        private readonly List<byte[]> _images;
        private readonly ImagePreprocessing _preprocessing;
        private readonly ImageAugmentation _augmentation;
        private readonly int _seed;

        private TrainingRows(List<byte[]> images, List<int> labels, ImagePreprocessing preprocessing,
            ImageAugmentation augmentation, int seed, int skipped, long firstSkipped,
            int invalidImages, IReadOnlyList<string> invalidReasons)
        {
            _images = images;
            Labels = labels;
            _preprocessing = preprocessing;
            _augmentation = augmentation;
            _seed = seed;
            Skipped = skipped;
            FirstSkippedRow = firstSkipped;
            InvalidImages = invalidImages;
            InvalidImageReasons = invalidReasons;
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
        /// <summary>Labelled rows left out because their image could not be read
        /// (<see cref="InvalidImagePolicy.Skip"/>).</summary>
        public int InvalidImages { get; }
        /// <summary>The messages of the first few of them.</summary>
        public IReadOnlyList<string> InvalidImageReasons { get; }

        /// <summary>
        /// Reads every labelled row. <paramref name="checkAlive"/> runs before each row, so cancellation stops a long
        /// read.
        /// </summary>
        /// <exception cref="InvalidImageException">
        /// A row's image cannot be read and the policy is <see cref="InvalidImagePolicy.Fail"/>; its
        /// <see cref="InvalidImageException.Role"/> is <paramref name="role"/>.
        /// </exception>
        /// <exception cref="InvalidDataException">Every labelled row's image was invalid.</exception>
        public static TrainingRows Read(IDataView data, string featureColumn, LabelColumn label,
            ImagePreprocessing preprocessing,
            ImageAugmentation augmentation, int seed, DataRole role, InvalidImagePolicy policy, Action checkAlive)
        {
            var images = new List<byte[]>();
            var labels = new List<int>();
            int skipped = 0;
            long firstSkipped = -1;
            int invalid = 0;
            var reasons = new List<string>();
            var feature = data.Schema[featureColumn];
            var labelColumn = data.Schema[label.Column.Name];
            uint count = (uint)label.ClassNames.Length;
            using var cursor = data.GetRowCursor(new[] { feature, labelColumn });
            var getLabel = cursor.GetGetter<uint>(labelColumn);
            var read = ImageColumn.MakeReader(cursor, feature, preprocessing);
            uint key = 0;
            while (true)
            {
                checkAlive?.Invoke();
                if (!cursor.MoveNext())
                    break;
                getLabel(ref key);
                if (key == 0 || key > count)
                {
                    skipped++;
                    if (firstSkipped < 0) firstSkipped = cursor.Position;
                    continue;
                }
                byte[] image;
                try
                {
                    image = read();
                }
                catch (InvalidImageException ex) when (policy == InvalidImagePolicy.Skip)
                {
                    invalid++;
                    if (reasons.Count < QuotedReasons) reasons.Add(ex.Message);
                    continue;
                }
                catch (InvalidImageException ex)
                {
                    // The row number alone is ambiguous when a training and a validation view both exist.
                    ex.Role = role;
                    throw;
                }
                images.Add(image);
                labels.Add((int)key - 1);
            }
            if (images.Count == 0 && invalid > 0)
                throw new InvalidDataException($"Every labelled row of the {role.Describe()} ({invalid}) has an "
                    + $"invalid image (InvalidImagePolicy.Skip left nothing to use). First: {reasons[0]}");
            return new TrainingRows(images, labels, preprocessing, augmentation, seed, skipped, firstSkipped, invalid,
                reasons);
        }

        /// <summary>The log line for the rows left out with invalid images, or null when there were none.</summary>
        public string DescribeInvalidImages(string where)
            => InvalidImages == 0 ? null
                : $"Skipped {InvalidImages} rows of the {where} whose image could not be read " +
                  "(InvalidImagePolicy.Skip); " +
                  $"{(InvalidImages > InvalidImageReasons.Count ? "the first: " : "")}" +
                  $"{string.Join(" ", InvalidImageReasons)}";

        /// <summary>
        /// The rows <paramref name="split"/> keeps for training and a source of the rows it holds out.
        /// </summary>
        public (TrainingRows Kept, IImageBatchSource HeldOut) Split(ValidationSplit split)
        {
            var training = split.TrainingRows;
            var kept = new TrainingRows(training.Select(i => _images[i]).ToList(),
                training.Select(i => Labels[i]).ToList(),
                _preprocessing, _augmentation, _seed, Skipped, FirstSkippedRow, InvalidImages, InvalidImageReasons);
            var held = new DecodedImageSource(_preprocessing, ImageAugmentation.None, _seed);
            foreach (int i in split.ValidationRows)
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

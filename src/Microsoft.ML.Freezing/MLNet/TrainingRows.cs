// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.ExceptionServices;
using System.Threading.Tasks;
using Microsoft.ML.Data;
using static TorchSharp.torch;

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
            var read = new Reading(role, policy);
            var feature = data.Schema[featureColumn];
            var labelColumn = data.Schema[label.Column.Name];
            uint count = (uint)label.ClassNames.Length;
            using var cursor = data.GetRowCursor(new[] { feature, labelColumn });
            var getLabel = cursor.GetGetter<uint>(labelColumn);
            var fetch = ImageColumn.MakeFetcher(cursor, feature, preprocessing);
            var pending = new List<(Func<byte[]> Finish, int Label)>();
            uint key = 0;
            bool more = true;
            while (more)
            {
                checkAlive?.Invoke();
                more = cursor.MoveNext();
                if (more)
                {
                    getLabel(ref key);
                    if (key == 0 || key > count)
                        read.SkipUnlabelled(cursor.Position);
                    else
                        pending.Add((Fetch(fetch), (int)key - 1));
                }
                if (pending.Count == ChunkRows || (!more && pending.Count > 0))
                {
                    read.Finish(pending);
                    pending.Clear();
                }
            }
            if (read.Images.Count == 0 && read.Invalid > 0)
                throw new InvalidDataException($"Every labelled row of the {role.Describe()} ({read.Invalid}) has " +
                    $"an invalid image (InvalidImagePolicy.Skip left nothing to use). First: {read.Reasons[0]}");
            return new TrainingRows(read.Images, read.Labels, preprocessing, augmentation, seed, read.Skipped,
                read.FirstSkipped, read.Invalid, read.Reasons);
        }

        /// <summary>Rows fetched on the cursor's thread before their images are decoded together.</summary>
        private const int ChunkRows = 64;

        // A failure to fetch is kept with its row, so that failures surface in row order.
        private static Func<byte[]> Fetch(Func<Func<byte[]>> fetch)
        {
            try
            {
                return fetch();
            }
            catch (InvalidImageException ex)
            {
                var failure = ExceptionDispatchInfo.Capture(ex); // rethrown later with the fetch's stack trace
                return () =>
                {
                    failure.Throw();
                    return null;
                };
            }
        }

        /// <summary>What a read has kept, skipped and refused so far.</summary>
        private sealed class Reading
        {
            private readonly DataRole _role;
            private readonly InvalidImagePolicy _policy;

            public Reading(DataRole role, InvalidImagePolicy policy)
            {
                _role = role;
                _policy = policy;
            }

            public List<byte[]> Images { get; } = new List<byte[]>();
            public List<int> Labels { get; } = new List<int>();
            public List<string> Reasons { get; } = new List<string>();
            public int Skipped { get; private set; }
            public long FirstSkipped { get; private set; } = -1;
            public int Invalid { get; private set; }

            public void SkipUnlabelled(long position)
            {
                Skipped++;
                if (FirstSkipped < 0) FirstSkipped = position;
            }

            /// <summary>
            /// Decodes the images of <paramref name="rows"/> on as many threads as libtorch uses, then keeps them in
            /// row order; the first invalid one fails the read (its role set) unless the policy skips it.
            /// </summary>
            public void Finish(List<(Func<byte[]> Finish, int Label)> rows)
            {
                var images = new byte[rows.Count][];
                var errors = new Exception[rows.Count];
                var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, get_num_threads()) };
                Parallel.For(0, rows.Count, options, i =>
                {
                    try
                    {
                        images[i] = rows[i].Finish();
                    }
                    catch (Exception ex)
                    {
                        errors[i] = ex;
                    }
                });
                for (int i = 0; i < rows.Count; i++)
                {
                    if (errors[i] is InvalidImageException invalid && _policy == InvalidImagePolicy.Skip)
                    {
                        Invalid++;
                        if (Reasons.Count < QuotedReasons) Reasons.Add(invalid.Message);
                        continue;
                    }
                    if (errors[i] != null)
                    {
                        // The row number alone is ambiguous when a training and a validation view both exist.
                        if (errors[i] is InvalidImageException named) named.Role = _role;
                        ExceptionDispatchInfo.Capture(errors[i]).Throw();
                    }
                    Images.Add(images[i]);
                    Labels.Add(rows[i].Label);
                }
            }
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

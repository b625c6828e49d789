// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Which rows train and which validate: a seeded split stratified by class, so every class keeps its share in both
    /// parts. Tiny data (fewer than <see cref="TrainingDefaults.MinImagesPerClassToHoldOut"/> images in some class, or
    /// fewer than <see cref="TrainingDefaults.MinImagesToHoldOut"/> in all) is not split: every row trains, and
    /// <see cref="Note"/> says why.
    /// </summary>
    public sealed class ValidationSplit
    {
        private readonly IReadOnlyList<int> _labels;
        private readonly int _smallClass;

        private ValidationSplit(IReadOnlyList<int> labels, int[] training, int[] validation, double fraction, int seed,
            int smallClass = -1)
        {
            _labels = labels;
            _smallClass = smallClass;
            TrainingRows = training;
            ValidationRows = validation;
            Fraction = fraction;
            Seed = seed;
        }

        /// <summary>Indices of the rows that train, ascending.</summary>
        public IReadOnlyList<int> TrainingRows { get; }
        /// <summary>Indices of the rows held out for validation, ascending; empty when nothing is held out.</summary>
        public IReadOnlyList<int> ValidationRows { get; }
        /// <summary>True when rows are held out.</summary>
        public bool HoldsOut => ValidationRows.Count > 0;
        /// <summary>The fraction asked for.</summary>
        public double Fraction { get; }
        /// <summary>The seed of the shuffle.</summary>
        public int Seed { get; }
        /// <summary>Why nothing is held out although a fraction was asked for (tiny data); otherwise null.</summary>
        /// <param name="classNames">Names by class index; null writes the indices.</param>
        public string Note(IReadOnlyList<string> classNames = null)
        {
            if (Fraction == 0 || HoldsOut)
                return null;
            if (_smallClass >= 0)
                return $"class '{Name(_smallClass, classNames)}' has only {_labels.Count(l => l == _smallClass)} " +
                       $"images (fewer than {TrainingDefaults.MinImagesPerClassToHoldOut})";
            return $"only {_labels.Count} images (fewer than {TrainingDefaults.MinImagesToHoldOut})";
        }

        /// <summary>
        /// Holds out round(<paramref name="fraction"/> x class size) rows of each class (at least one, never a class's
        /// last), chosen by a shuffle seeded with <paramref name="seed"/>: the same labels, fraction and seed give the
        /// same split.
        /// </summary>
        /// <param name="labels">Class index of each row (0 ... classes - 1).</param>
        /// <param name="fraction">Fraction held out, in [0, 1); 0 holds out nothing.</param>
        /// <param name="seed">Seed of the shuffle.</param>
        public static ValidationSplit Stratified(IReadOnlyList<int> labels, double fraction, int seed)
        {
            if (labels is null) throw new ArgumentNullException(nameof(labels));
            if (!(fraction >= 0 && fraction < 1))
                throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "The fraction must lie in [0, 1).");
            var all = Enumerable.Range(0, labels.Count).ToArray();
            var classes = labels.GroupBy(l => l).Select(g => (Label: g.Key, Count: g.Count()))
                .OrderBy(c => c.Count).ThenBy(c => c.Label).ToList();
            if (fraction == 0 || labels.Count < TrainingDefaults.MinImagesToHoldOut)
                return new ValidationSplit(labels, all, Array.Empty<int>(), fraction, seed);
            if (classes[0].Count < TrainingDefaults.MinImagesPerClassToHoldOut)
                return new ValidationSplit(labels, all, Array.Empty<int>(), fraction, seed, classes[0].Label);

            var order = all.ToArray();
            new Random(seed).Shuffle(order);
            var quota = classes.ToDictionary(c => c.Label,
                c => Math.Clamp((int)Math.Round(c.Count * fraction), 1, c.Count - 1));
            var validation = new List<int>();
            foreach (int row in order)
            {
                if (quota[labels[row]] > 0)
                {
                    quota[labels[row]]--;
                    validation.Add(row);
                }
            }
            validation.Sort();
            var held = new HashSet<int>(validation);
            var training = all.Where(i => !held.Contains(i)).ToArray();
            return new ValidationSplit(labels, training, validation.ToArray(), fraction, seed);
        }

        /// <summary>One log line: the counts per class of both parts, or what was done instead of splitting.</summary>
        /// <param name="classNames">Names by class index; null writes the indices.</param>
        public string Describe(IReadOnlyList<string> classNames = null)
        {
            string Counts(IReadOnlyList<int> rows) => string.Join(", ", rows.GroupBy(r => _labels[r])
                .OrderBy(g => g.Key).Select(g => $"{Name(g.Key, classNames)} {g.Count()}"));
            string note = Note(classNames);
            if (note != null)
                return $"No validation split: {note}; all {TrainingRows.Count} images train for the fixed epochs, " +
                       "without validation metrics or best-epoch restoring.";
            if (!HoldsOut)
                return $"No validation split (fraction 0): all {TrainingRows.Count} images train.";
            return string.Create(CultureInfo.InvariantCulture,
                $"Validation split (stratified, {Fraction * 100:0.#}% of each class, seed {Seed}): " +
                $"{TrainingRows.Count} training ({Counts(TrainingRows)}) / " +
                $"{ValidationRows.Count} validation ({Counts(ValidationRows)}).");
        }

        private static string Name(int label, IReadOnlyList<string> classNames)
            => classNames != null && label < classNames.Count ? classNames[label]
                : label.ToString(CultureInfo.InvariantCulture);
    }
}

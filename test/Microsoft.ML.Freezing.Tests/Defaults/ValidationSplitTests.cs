// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System.Collections.Generic;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests.Defaults
{
    /// <summary>The held-out validation split: stratified, seeded, deterministic, and absent on tiny data.</summary>
    [TestClass]
    public sealed class ValidationSplitTests
    {
        // 3 classes of 60, 30 and 10 rows, interleaved.
        private static int[] Labels() => Enumerable.Range(0, 60).Select(_ => 0)
            .Concat(Enumerable.Range(0, 30).Select(_ => 1)).Concat(Enumerable.Range(0, 10).Select(_ => 2))
            .OrderBy(l => l * 7919 % 13).ToArray();

        [TestMethod]
        public void EachClassKeepsItsShareInBothParts()
        {
            var labels = Labels();
            var split = ValidationSplit.Stratified(labels, 0.1, seed: 5);
            var held = split.ValidationRows.GroupBy(i => labels[i]).ToDictionary(g => g.Key, g => g.Count());
            Assert.AreEqual(6, held[0]);
            Assert.AreEqual(3, held[1]);
            Assert.AreEqual(1, held[2]);
            Assert.AreEqual(90, split.TrainingRows.Count);
            CollectionAssert.AreEquivalent(Enumerable.Range(0, labels.Length).ToArray(),
                split.TrainingRows.Concat(split.ValidationRows).ToArray());
            StringAssert.Contains(split.Describe(new[] { "a", "b", "c" }),
                "90 training (a 54, b 27, c 9) / 10 validation (a 6, b 3, c 1)");
        }

        [TestMethod]
        public void TheSeedDecidesTheSplitAndNothingElse()
        {
            var labels = Labels();
            var first = ValidationSplit.Stratified(labels, 0.2, seed: 1).ValidationRows;
            int[] Held(int seed) => ValidationSplit.Stratified(labels, 0.2, seed).ValidationRows.ToArray();
            CollectionAssert.AreEqual(first.ToArray(), Held(1));
            CollectionAssert.AreNotEqual(first.ToArray(), Held(2));
        }

        [TestMethod]
        public void TinyDataIsNotSplitAndSaysWhy()
        {
            var few = Enumerable.Range(0, 40).Select(i => i % 2).ToArray();
            var split = ValidationSplit.Stratified(few, 0.1, seed: 0);
            Assert.IsFalse(split.HoldsOut);
            Assert.AreEqual(40, split.TrainingRows.Count);
            StringAssert.Contains(split.Describe(), "only 40 images (fewer than 50)");

            var rareClass = Enumerable.Range(0, 100).Select(i => i < 3 ? 1 : 0).ToArray();
            var rare = ValidationSplit.Stratified(rareClass, 0.1, seed: 0);
            Assert.IsFalse(rare.HoldsOut);
            StringAssert.Contains(rare.Describe(new[] { "common", "rare" }), "class 'rare' has only 3 images");
            StringAssert.Contains(rare.Note(), "class '1' has only 3 images");
            StringAssert.Contains(rare.Note(new[] { "cat", "bird" }), "class 'bird' has only 3 images");

            Assert.IsNull(ValidationSplit.Stratified(rareClass, 0, seed: 0).Note(), "fraction 0 is a choice");
        }
    }
}

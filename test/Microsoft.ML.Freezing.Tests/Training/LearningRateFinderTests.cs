// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests.Training
{
    /// <summary>The learning-rate range test (<see cref="LearningRateFinder"/>).</summary>
    [TestClass]
    public sealed class LearningRateFinderTests
    {
        [TestMethod]
        public void RampsExponentiallyStopsWhenTheLossDivergesAndPutsTheWeightsBack()
        {
            using var model = new ResNet(TestData.TinyDefinition(), seed: 4);
            using var images = TestData.RandomImages(32);
            var before = TestData.Snapshot(model);
            var options = new FineTuneOptions { BatchSize = 8, Freeze = FreezeMask.AllButHead };
            var finder = new LearningRateFinderOptions { StartLearningRate = 1e-5, EndLearningRate = 1e4, Steps = 60 };

            var result = LearningRateFinder.Run(model, images, options, finder);

            foreach (var (name, tensor) in model.state_dict())
                Assert.IsTrue(TestData.Same(before[name], tensor), $"{name} was not put back");
            TestData.Dispose(before);
            Assert.AreEqual(1e-5, result.LearningRates[0], 1e-12);
            double ratio = Math.Pow(1e9, 1.0 / 59);
            for (int i = 1; i < result.LearningRates.Count; i++)
                Assert.AreEqual(ratio, result.LearningRates[i] / result.LearningRates[i - 1], 1e-9, $"step {i}");
            Assert.IsTrue(result.Losses.Count < 60,
                $"a rate of 1e4 should diverge before the end: {result.Losses.Count} steps");
            double lowest = result.Losses.Min();
            Assert.IsTrue(result.Losses.Last() > 4 * lowest || !double.IsFinite(result.Losses.Last())
                || result.Losses.Count < 60);
            int best = result.Losses.ToList().IndexOf(lowest);
            Assert.AreEqual(Math.Max(result.LearningRates[best] / 10, 1e-5), result.SuggestedLearningRate, 1e-12);
            StringAssert.Contains(result.Reason, "range test");
        }

        [TestMethod]
        public void ARampThatNeverTurnsUpSaysItsSuggestionIsOnlyALowerBound()
        {
            var finder = new LearningRateFinderOptions { StartLearningRate = 1e-4, EndLearningRate = 1e-1, Steps = 20 };
            var falling = new LossRecorder(finder);
            for (int step = 0; step < 20 && falling.Add(2.0 - 0.05 * step); step++) { }
            var turning = new LossRecorder(finder);
            for (int step = 0; step < 20 && turning.Add(step < 12 ? 2.0 - 0.1 * step : 0.9 + 0.5 * (step - 11)); step++)
            { }

            var fell = falling.Result();
            var turned = turning.Result();

            Assert.AreEqual(1e-2, fell.SuggestedLearningRate, 1e-12, "a tenth of the ramp's last rate");
            StringAssert.Contains(fell.Reason, "the loss still fell at the ramp's end, 0.1");
            Assert.IsTrue(turned.SuggestedLearningRate < 1e-2, turned.Reason);
            Assert.IsFalse(turned.Reason.Contains("still fell", StringComparison.Ordinal), turned.Reason);
        }

        [TestMethod]
        public void TheUsersOptionsAreLeftAsTheyWere()
        {
            using var model = new ResNet(TestData.TinyDefinition(), seed: 4);
            using var images = TestData.RandomImages(16);
            var options = new FineTuneOptions { BatchSize = 8, LearningRate = 0.02, Epochs = 3 };
            LearningRateFinder.Run(model, images, options, new LearningRateFinderOptions { Steps = 12 });
            Assert.AreEqual(0.02, options.LearningRate);
            Assert.AreEqual(3, options.Epochs);
            Assert.IsNull(options.BatchCallback);
        }
    }
}

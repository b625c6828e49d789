// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing.Tests.Freezing
{
    /// <summary>A thaw policy that reacts to validation drives the loop; the best epoch's weights come back.</summary>
    [TestClass]
    public sealed class ThawPolicyTests
    {
        /// <summary>Thaws layer4 at epoch 2 when epoch 1 validated below a threshold; keeps what it saw.</summary>
        private sealed class ThawLayer4WhenValidationIsLow : ThawPolicy
        {
            private readonly double _threshold;

            public ThawLayer4WhenValidationIsLow(double threshold) => _threshold = threshold;

            public List<ThawContext> Seen { get; } = new List<ThawContext>();

            public override ThawDecision Decide(ThawContext context)
            {
                Seen.Add(context);
                if (context.Epoch == 2 && context.Previous.ValidationLoss < _threshold)
                    return new ThawDecision(context.CurrentMask.Except(FreezeMask.Stages(ResNetStage.Layer4)),
                        $"validation loss {context.Previous.ValidationLoss:F3} < {_threshold}: thawing layer4");
                return new ThawDecision(context.CurrentMask);
            }
        }

        /// <summary>Once an epoch validates worse than the best so far: back to the best weights, and stop.</summary>
        private sealed class StopWhenValidationWorsens : ThawPolicy
        {
            public override ThawDecision Decide(ThawContext context)
            {
                var losses = context.History.Select(h => h.ValidationLoss.Value).ToList();
                if (losses.Count >= 2 && losses[^1] > losses.Min())
                    return new ThawDecision(null, "validation got worse") { RestoreBestWeights = true, Stop = true };
                return new ThawDecision(context.CurrentMask);
            }
        }

        /// <summary>Keeps the mask, and counts no epoch after the first as better, however low its loss.</summary>
        private sealed class FirstEpochStaysBest : ThawPolicy
        {
            public override ThawDecision Decide(ThawContext context) => new ThawDecision(context.CurrentMask);

            public override bool RestoreBestEpochAtEnd => true;

            public override bool Improves(EpochRecord candidate, EpochRecord best) => false;
        }

        private static FineTuneOptions Options(ThawPolicy policy, int epochs, bool cache = true) => new FineTuneOptions
        {
            Epochs = epochs, BatchSize = 8, LearningRate = 0.05, WeightDecay = 0, Seed = 1,
            Freeze = FreezeMask.AllButHead, Unfreezing = policy, UseActivationCache = cache,
        };

        // The training images (TestData.RandomImages' seed) with every label moved on by one class: the better the
        // model fits the training labels, the worse it validates, so the best epoch comes early.
        private static TensorImageSource Mislabelled(int count)
        {
            using var scope = NewDisposeScope();
            using var generator = new Generator(7);
            var images = rand(new long[] { count, 3, 32, 32 }, generator: generator) * 2 - 1;
            var labels = randint(3, new long[] { count }, generator: generator);
            return new TensorImageSource(images, (labels + 1).remainder(3));
        }

        private static bool SameWeights(Dictionary<string, Tensor> a, Dictionary<string, Tensor> b)
            => a.Keys.All(k => TestData.Same(a[k], b[k]));

        private static int BestByValidationLoss(IReadOnlyList<EpochRecord> history)
            => history.OrderBy(h => h.ValidationLoss.Value).First().Epoch;

        [TestMethod]
        public void PolicyThawsFromThePreviousEpochsValidationAndTheLoopAppliesItsMask()
        {
            var policy = new ThawLayer4WhenValidationIsLow(threshold: 10);
            using var validation = TestData.RandomImages(8, seed: 9);
            using var run = RecordedRun.Train(Options(policy, epochs: 4), validation);

            Assert.IsFalse(run.Planned, "a reactive policy has no plan");
            // Asked before every epoch, with the history so far and the previous epoch's validation metrics.
            CollectionAssert.AreEqual(new[] { 0, 1, 2, 3 }, policy.Seen.Select(c => c.Epoch).ToArray());
            Assert.IsNull(policy.Seen[0].Previous);
            Assert.AreEqual("stem..layer4", policy.Seen[0].CurrentMask.ToString(), "epoch 0 sees the initial mask");
            for (int e = 1; e < 4; e++)
            {
                Assert.HasCount(e, policy.Seen[e].History);
                Assert.AreEqual(run.History[e - 1].ValidationLoss, policy.Seen[e].Previous.ValidationLoss);
                Assert.AreEqual(run.History[e - 1].ValidationAccuracy, policy.Seen[e].Previous.ValidationAccuracy);
            }
            CollectionAssert.Contains(policy.Seen[2].FrozenStages.ToArray(), ResNetStage.Layer4);
            CollectionAssert.DoesNotContain(policy.Seen[3].FrozenStages.ToArray(), ResNetStage.Layer4);
            Assert.IsTrue(run.Log.Any(l => l.StartsWith("Epoch 2: validation loss")), string.Join("\n", run.Log));

            // Stem..layer3 stay bit-identical; layer4 is still until epoch 2 and trains from there; the head always.
            foreach (var name in run.Final.Keys.Where(n => !n.EndsWith("num_batches_tracked")))
            {
                var stage = ResNetStages.OfParameter(name);
                for (int epoch = 0; epoch < 4; epoch++)
                {
                    bool trains = stage == ResNetStage.Head || (stage == ResNetStage.Layer4 && epoch >= 2);
                    bool changed = !TestData.Same(run.Snapshots[epoch][name], run.Snapshots[epoch + 1][name]);
                    Assert.AreEqual(trains, changed, $"epoch {epoch}, {name}: {(trains ? "still" : "changed")}");
                }
            }
            CollectionAssert.DoesNotContain(run.History[2].FrozenStages.ToArray(), ResNetStage.Layer4);
        }

        [TestMethod]
        public void PolicyThatSeesNoReasonToThawKeepsTheMask()
        {
            var policy = new ThawLayer4WhenValidationIsLow(threshold: 0);
            using var validation = TestData.RandomImages(8, seed: 9);
            using var run = RecordedRun.Train(Options(policy, epochs: 3), validation);
            foreach (var name in run.Final.Keys.Where(n => ResNetStages.OfParameter(n) != ResNetStage.Head))
                Assert.IsTrue(TestData.Same(run.Snapshots[0][name], run.Final[name]), $"{name} changed");
            Assert.IsTrue(run.History.All(h => h.FrozenStages.Contains(ResNetStage.Layer4)));
        }

        [TestMethod]
        public void ReactivePolicyCachesTheCurrentBoundaryAndMatchesTheUncachedPath()
        {
            using var validation = TestData.RandomImages(8, seed: 9);
            using var cached = RecordedRun.Train(
                Options(new ThawLayer4WhenValidationIsLow(10), 4, cache: true), validation);
            using var plain = RecordedRun.Train(
                Options(new ThawLayer4WhenValidationIsLow(10), 4, cache: false), validation);

            // Epoch 0 fills layer4's outputs, epoch 1 reads them; the thaw at 2 moves the boundary: epoch 2 runs the
            // images and fills layer3's outputs, which epoch 3 reads. So the stem runs twice over the 16 images.
            CollectionAssert.AreEqual(new ResNetStage?[] { null, ResNetStage.Layer4, null, ResNetStage.Layer3 },
                cached.History.Select(h => h.CachedBoundary).ToArray());
            Assert.AreEqual(32L, cached.Forwards[ResNetStage.Stem]);
            Assert.AreEqual(64L, plain.Forwards[ResNetStage.Stem]);
            foreach (var name in plain.Final.Keys.Where(k => !k.EndsWith("num_batches_tracked")))
            {
                Assert.IsTrue(plain.Final[name].allclose(cached.Final[name], rtol: 1e-4, atol: 1e-5),
                    $"{name} differs beyond float rounding");
            }
        }

        [TestMethod]
        public void PolicyThatAsksToRestoreAndStopGetsTheBestEpochsWeights()
        {
            using var validation = Mislabelled(16);
            using var run = RecordedRun.Train(Options(new StopWhenValidationWorsens(), epochs: 6), validation);

            int stoppedAt = run.History.Count;
            Assert.IsTrue(stoppedAt < 6, "validation never got worse: the policy had nothing to do");
            int best = BestByValidationLoss(run.History);
            Assert.IsTrue(best < stoppedAt - 1, $"best epoch {best}, stopped before {stoppedAt}");
            Assert.AreEqual(best, run.RestoredEpoch, "the tuner says whose weights the model holds");
            Assert.IsTrue(SameWeights(run.Snapshots[best + 1], run.Final), $"the model lacks epoch {best}'s weights");
            string log = string.Join("\n", run.Log);
            StringAssert.Contains(log, $"Restoring the weights of epoch {best}, the best by ValidationLoss, as thaw");
            StringAssert.Contains(log, $"Stopping before epoch {stoppedAt}, as thaw policy");
        }

        [TestMethod]
        public void TheBestEpochIsThePolicysToDefine()
        {
            // Validating on the training images: the head's loss falls every epoch, yet the policy keeps epoch 0.
            using var validation = TestData.RandomImages(16);
            using var run = RecordedRun.Train(Options(new FirstEpochStaysBest(), epochs: 3), validation);

            Assert.IsTrue(run.History[2].ValidationLoss < run.History[0].ValidationLoss, "the loss did not fall");
            Assert.AreEqual(0, run.RestoredEpoch);
            Assert.IsTrue(SameWeights(run.Snapshots[1], run.Final), "the model lacks epoch 0's weights");
        }

        [TestMethod]
        public void RestoreBestEpochTrainsEveryEpochThenPutsTheBestEpochsWeightsBack()
        {
            using var validation = Mislabelled(16);
            var options = Options(UnfreezeSchedule.Gradual(1, 1), epochs: 4);
            options.RestoreBestEpoch = true;
            using var run = RecordedRun.Train(options, validation);

            Assert.IsTrue(run.Planned, "a schedule plans ahead");
            Assert.HasCount(4, run.History);
            int best = BestByValidationLoss(run.History);
            Assert.AreNotEqual(3, best, "the last epoch was the best: nothing to restore");
            Assert.AreEqual(best, run.RestoredEpoch);
            Assert.IsTrue(SameWeights(run.Snapshots[best + 1], run.Final), $"the model lacks epoch {best}'s weights");
            Assert.IsTrue(run.Log.Contains($"Restoring the weights of epoch {best}, the best by ValidationLoss."),
                string.Join("\n", run.Log));
        }

        [TestMethod]
        public void EarlyStoppingStopsAndRestoresTheBestEpochAsBefore()
        {
            using var validation = Mislabelled(16);
            var options = Options(UnfreezeSchedule.None, epochs: 6);
            options.EarlyStopping = new EarlyStopping(patience: 1);
            using var run = RecordedRun.Train(options, validation);

            int best = BestByValidationLoss(run.History);
            Assert.HasCount(best + 2, run.History, "stops one epoch without improvement after the best");
            Assert.AreEqual(best, run.RestoredEpoch);
            Assert.IsTrue(SameWeights(run.Snapshots[best + 1], run.Final), $"the model lacks epoch {best}'s weights");
            Assert.IsTrue(run.Log.Contains($"Restoring the weights of epoch {best}, the best by ValidationLoss."),
                string.Join("\n", run.Log));
        }

        [TestMethod]
        public void RestoreBestEpochNeedsAValidationSet()
        {
            using var model = new ResNet(TestData.TinyDefinition(), seed: 2);
            using var train = TestData.RandomImages(8);
            using var tuner = new FineTuner(model, new FineTuneOptions { Epochs = 1, RestoreBestEpoch = true });
            var error = Assert.ThrowsExactly<ArgumentException>(() => tuner.Fit(train));
            StringAssert.Contains(error.Message, "RestoreBestEpoch needs a validation set");
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing.Tests.Training
{
    /// <summary>The frozen-prefix activation cache: fewer forward passes, same results, bounded memory.</summary>
    [TestClass]
    public sealed class ActivationCacheTests
    {
        private sealed class Run
        {
            public Dictionary<string, Tensor> Weights;
            public IReadOnlyDictionary<ResNetStage, long> Forwards;
            public IReadOnlyList<EpochRecord> History;
            public long PeakCacheBytes;
            public List<string> Log = new List<string>();
        }

        private static Run Train(bool cache, long memoryLimit = 2L << 30,
            BatchNormPolicy policy = BatchNormPolicy.Frozen, ImageAugmentation augmentation = ImageAugmentation.None)
        {
            var run = new Run();
            using var model = new ResNet(TestData.TinyDefinition(), seed: 4);
            using var images = TestData.RandomImages(16);
            IImageBatchSource data = images;
            DecodedImageSource decoded = null;
            if (augmentation != ImageAugmentation.None)
            {
                decoded = new DecodedImageSource(ImagePreprocessing.ImageNet(32), augmentation, 1);
                var random = new Random(1);
                for (int i = 0; i < 16; i++)
                {
                    var rgb = new byte[32 * 32 * 3];
                    random.NextBytes(rgb);
                    decoded.Add(rgb, i % 3);
                }
                data = decoded;
            }
            var options = new FineTuneOptions
            {
                Epochs = 4, BatchSize = 8, LearningRate = 0.05, WeightDecay = 0, Seed = 3,
                Freeze = FreezeMask.AllButHead, Unfreezing = UnfreezeSchedule.Gradual(1, 1), BatchNorm = policy,
                UseActivationCache = cache, ActivationCacheMemoryLimit = memoryLimit, Log = run.Log.Add,
            };
            using (var tuner = new FineTuner(model, options))
            {
                run.History = tuner.Fit(data).ToList();
                run.Forwards = tuner.StageForwardCounts.ToDictionary(kv => kv.Key, kv => kv.Value);
                run.PeakCacheBytes = tuner.PeakActivationCacheBytes;
            }
            run.Weights = TestData.Snapshot(model);
            return run;
        }

        private static void AssertSameWeights(Run expected, Run actual)
        {
            // Relative to each tensor's largest value: the same computation up to float rounding on any CPU's kernels.
            double worst = 0;
            foreach (var name in expected.Weights.Keys.Where(k => !k.EndsWith("num_batches_tracked")))
            {
                double difference = ScoreComparison.RelativeDifference(expected.Weights[name], actual.Weights[name]);
                Assert.IsTrue(difference <= ScoreComparison.Relative,
                    $"{name} differs by {difference:G3} of its range");
                worst = Math.Max(worst, difference);
            }
            Console.WriteLine($"weights differ by at most {worst:G3} of their range");
        }

        [TestMethod]
        [TestCategory(Categories.Numerical)]
        public void GradualScheduleRunsEachFrozenStageOnceAndMatchesTheUncachedPath()
        {
            var cached = Train(cache: true);
            var plain = Train(cache: false);

            // 16 images, 4 epochs; head trains from 0, layer4 from 1, layer3 from 2, layer2 from 3.
            var expected = new Dictionary<ResNetStage, long>
            {
                [ResNetStage.Stem] = 16, [ResNetStage.Layer1] = 16, [ResNetStage.Layer2] = 32,
                [ResNetStage.Layer3] = 48, [ResNetStage.Layer4] = 64, [ResNetStage.Head] = 64,
            };
            foreach (var stage in ResNetStages.All)
            {
                Assert.AreEqual(expected[stage], cached.Forwards[stage], $"cached forwards through {stage}");
                Assert.AreEqual(64L, plain.Forwards[stage], $"uncached forwards through {stage}");
            }
            CollectionAssert.AreEqual(
                new ResNetStage?[] { null, ResNetStage.Layer3, ResNetStage.Layer2, ResNetStage.Layer1 },
                cached.History.Select(h => h.CachedBoundary).ToArray());
            AssertSameWeights(plain, cached);
            for (int e = 0; e < 4; e++)
                Assert.AreEqual(plain.History[e].TrainLoss, cached.History[e].TrainLoss, 1e-4, $"epoch {e} loss");
            Assert.IsTrue(cached.Log.Any(l => l.Contains("dropped")), string.Join("\n", cached.Log));
        }

        [TestMethod]
        [TestCategory(Categories.Numerical)]
        public void MemoryStaysUnderTheCapAndTheRestSpills()
        {
            // At 32 px a tiny network's layer1 output is 64x8x8 floats = 4 KB per image: 64 KB for 16 images.
            long cap = 100_000;
            var capped = Train(cache: true, memoryLimit: cap);
            Assert.IsTrue(capped.PeakCacheBytes <= cap, $"peak {capped.PeakCacheBytes} bytes over the {cap}-byte cap");
            Assert.IsTrue(capped.PeakCacheBytes > 0, "something should fit in memory");
            Assert.IsTrue(capped.Log.Any(l => l.Contains("spilling to a memory-mapped file")),
                string.Join("\n", capped.Log));
            var plain = Train(cache: false);
            AssertSameWeights(plain, capped);
            Assert.IsTrue(capped.Forwards[ResNetStage.Stem] == 16,
                "spilled outputs are still read back, not recomputed");
        }

        // Each epoch's validation in Fit (cached at the freeze boundary) against Evaluate, which runs every stage.
        private static (List<EpochRecord> History, List<EvaluationResult> Uncached,
            Dictionary<ResNetStage, long> Forwards) Validate(ThawPolicy policy, IImageBatchSource validation)
        {
            using var model = new ResNet(TestData.TinyDefinition(), seed: 4);
            using var train = TestData.RandomImages(16);
            var uncached = new List<EvaluationResult>();
            FineTuner tuner = null;
            var options = new FineTuneOptions
            {
                Epochs = 4, BatchSize = 8, LearningRate = 0.05, WeightDecay = 0, Seed = 3,
                Freeze = FreezeMask.AllButHead, Unfreezing = policy,
                EpochCallback = _ => uncached.Add(tuner.Evaluate(validation)),
            };
            using (tuner = new FineTuner(model, options))
            {
                var history = tuner.Fit(train, validation).ToList();
                var forwards = tuner.ValidationStageForwardCounts.ToDictionary(kv => kv.Key, kv => kv.Value);
                return (history, uncached, forwards);
            }
        }

        private static void AssertSameValidation(List<EpochRecord> history, List<EvaluationResult> uncached)
        {
            Assert.HasCount(history.Count, uncached);
            for (int e = 0; e < history.Count; e++)
            {
                double loss = uncached[e].Loss;
                Assert.AreEqual(loss, history[e].ValidationLoss.Value, 1e-5 * loss, $"epoch {e}");
                Assert.AreEqual(uncached[e].Accuracy, history[e].ValidationAccuracy.Value, 1e-9, $"epoch {e}");
            }
        }

        [TestMethod]
        public void ValidationRunsEachFrozenStageOncePerBoundaryAndEqualsTheUncachedValidation()
        {
            using var validation = TestData.RandomImages(8, seed: 9);
            var (history, uncached, forwards) = Validate(UnfreezeSchedule.Gradual(1, 1), validation);

            // Planned: epoch 0 runs the 8 images through every stage and stores every boundary the plan reaches.
            var expected = new Dictionary<ResNetStage, long>
            {
                [ResNetStage.Stem] = 8, [ResNetStage.Layer1] = 8, [ResNetStage.Layer2] = 16,
                [ResNetStage.Layer3] = 24, [ResNetStage.Layer4] = 32, [ResNetStage.Head] = 32,
            };
            foreach (var stage in ResNetStages.All)
                Assert.AreEqual(expected[stage], forwards[stage], $"validation forwards through {stage}");
            var boundaries = new ResNetStage?[] { null, ResNetStage.Layer3, ResNetStage.Layer2, ResNetStage.Layer1 };
            CollectionAssert.AreEqual(boundaries, history.Select(h => h.ValidationCachedBoundary).ToArray());
            AssertSameValidation(history, uncached);
        }

        // A reactive policy (no plan): layer4 thaws at epoch 1.
        private sealed class ThawLayer4AtEpoch1 : ThawPolicy
        {
            public override ThawDecision Decide(ThawContext context)
                => new ThawDecision(context.Epoch >= 1 ? FreezeMask.UpTo(ResNetStage.Layer3) : context.CurrentMask,
                    "layer4 thaws at epoch 1");
        }

        [TestMethod]
        public void ReactiveValidationCachesTheCurrentBoundaryAndEqualsTheUncachedValidation()
        {
            // Epoch 0 runs from the images and stores layer4's outputs; the thaw at 1 moves the boundary (from the
            // images, storing layer3's outputs); epochs 2 and 3 read layer3's outputs.
            using var validation = TestData.RandomImages(8, seed: 9);
            var (history, uncached, forwards) = Validate(new ThawLayer4AtEpoch1(), validation);
            CollectionAssert.AreEqual(new ResNetStage?[] { null, null, ResNetStage.Layer3, ResNetStage.Layer3 },
                history.Select(h => h.ValidationCachedBoundary).ToArray());
            Assert.AreEqual(16L, forwards[ResNetStage.Stem]);
            Assert.AreEqual(32L, forwards[ResNetStage.Layer4]);
            AssertSameValidation(history, uncached);

            // Auto with a min delta no epoch can beat, and 4 epochs: the head trains its quarter of the budget (epoch
            // 0); at 1, before everything thaws, the head alone trains epochs 1-3 as the thaw's baseline (validated
            // from the cached layer4 outputs); the thawed epochs validate from the images until the thaw is judged.
            var (auto, autoUncached, autoForwards) = Validate(UnfreezeSchedule.Auto(1, minDelta: 100), validation);
            Assert.IsTrue(auto.Count >= 3, auto[^1].StopReason);
            Assert.IsTrue(auto.All(h => h.ValidationCachedBoundary == null));
            Assert.AreEqual(8L * auto.Count, autoForwards[ResNetStage.Stem], "every epoch validates from the images");
            Assert.AreEqual(8L * auto.Count + 24, autoForwards[ResNetStage.Head], "the baseline's 3 epochs count");
            AssertSameValidation(auto, autoUncached);
        }

        [TestMethod]
        public void CacheIsOffWithAugmentationOrTrainableBatchNormAndSaysWhy()
        {
            var augmented = Train(cache: true, augmentation: ImageAugmentation.FlipAndCrop);
            Assert.IsTrue(augmented.Log.Any(l => l.StartsWith("Activation cache off") && l.Contains("augmentation")),
                string.Join("\n", augmented.Log));
            Assert.AreEqual(64L, augmented.Forwards[ResNetStage.Stem]);

            var trainAffine = Train(cache: true, policy: BatchNormPolicy.TrainAffine);
            Assert.IsTrue(trainAffine.Log.Any(l => l.StartsWith("Activation cache off") && l.Contains("TrainAffine")),
                string.Join("\n", trainAffine.Log));
            Assert.IsTrue(trainAffine.History.All(h => h.CachedBoundary == null));
        }
    }
}

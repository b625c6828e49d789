// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Linq;
using Microsoft.ML.Freezing.Tests.Freezing;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing.Tests.Training
{
    /// <summary>
    /// <see cref="FineTuneSettings.HorizontalFlip"/>: the mirrored pairs, the draw of each epoch, and the activation
    /// cache holding both versions while yielding what computing them yields.
    /// </summary>
    [TestClass]
    public sealed class HorizontalFlipTests
    {
        [TestMethod]
        public void IndexPlusCountIsTheMirroredImage()
        {
            using var images = TestData.RandomImages(6);
            var pairs = new FlipPairSource(images);
            Assert.AreEqual(12, pairs.Count);
            using var plain = images.GetBatch(new[] { 2, 4 });
            using var batch = pairs.GetBatch(new[] { 2, 8, 10, 4 });
            Assert.IsTrue(TestData.Same(plain.Images[0], batch.Images[0]), "index 2 is image 2 as it is");
            Assert.IsTrue(TestData.Same(plain.Images[0].flip(2), batch.Images[1]), "index 8 is image 2 mirrored");
            Assert.IsTrue(TestData.Same(plain.Images[1].flip(2), batch.Images[2]), "index 10 is image 4 mirrored");
            Assert.IsFalse(TestData.Same(batch.Images[0], batch.Images[1]), "the mirror differs from the image");
            CollectionAssert.AreEqual(new[] { plain.Labels[0].item<long>(), plain.Labels[0].item<long>(),
                plain.Labels[1].item<long>(), plain.Labels[1].item<long>() }, batch.Labels.data<long>().ToArray());
        }

        [TestMethod]
        public void EachEpochShowsEveryImageOnceMirroredOrNotFromTheSeedAndEpoch()
        {
            using var images = TestData.RandomImages(64);
            var pairs = new FlipPairSource(images);
            int[] Epoch(int seed, int epoch)
                => pairs.EpochBatches(8, new System.Random(seed), seed, epoch).SelectMany(b => b).ToArray();

            var first = Epoch(1, 0);
            CollectionAssert.AreEquivalent(Enumerable.Range(0, 64).ToArray(), first.Select(i => i % 64).ToArray());
            int mirrored = first.Count(i => i >= 64);
            Assert.IsTrue(mirrored > 16 && mirrored < 48, $"{mirrored} of 64 mirrored");
            CollectionAssert.AreEqual(first, Epoch(1, 0), "the same seed and epoch draw the same");
            var nextDraws = Epoch(1, 1).OrderBy(i => i % 64).Select(i => i >= 64).ToArray();
            CollectionAssert.AreNotEqual(first.OrderBy(i => i % 64).Select(i => i >= 64).ToArray(), nextDraws,
                "the next epoch draws other flips");
        }

        [TestMethod]
        public void TheTrainerRefusesFlipsTwice()
        {
            var options = new FrozenResNetTrainer.Options
            {
                LabelColumnName = "Label", FeatureColumnName = "Image", HorizontalFlip = true,
                Augmentation = ImageAugmentation.FlipAndCrop,
            };
            var trainers = new MLContext(seed: 1).MulticlassClassification.Trainers;
            var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => trainers.FrozenResNet(options));
            StringAssert.Contains(error.Message, "HorizontalFlip");
            options.Augmentation = ImageAugmentation.None;
            Assert.IsNotNull(trainers.FrozenResNet(options));
        }

        private static FineTuneOptions Options(bool flip, bool cache) => new FineTuneOptions
        {
            Epochs = 3, BatchSize = 8, LearningRate = 0.05, WeightDecay = 0, Seed = 1,
            Freeze = FreezeMask.AllButHead, Unfreezing = UnfreezeSchedule.None, HorizontalFlip = flip,
            UseActivationCache = cache,
        };

        [TestMethod]
        public void TheCacheHoldsBothVersionsAndYieldsWhatComputingThemYields()
        {
            using var cached = RecordedRun.Train(Options(flip: true, cache: true), validation: null);
            using var computed = RecordedRun.Train(Options(flip: true, cache: false), validation: null);
            using var unflipped = RecordedRun.Train(Options(flip: false, cache: true), validation: null);

            // 16 images: the cached run's first pass runs the stem over both versions (32), then never again; the
            // computed run runs it over 16 drawn versions per epoch.
            Assert.AreEqual(32L, cached.Forwards[ResNetStage.Stem], string.Join("\n", cached.Log));
            Assert.AreEqual(48L, computed.Forwards[ResNetStage.Stem]);
            CollectionAssert.AreEqual(new ResNetStage?[] { null, ResNetStage.Layer4, ResNetStage.Layer4 },
                cached.History.Select(h => h.CachedBoundary).ToArray());
            var head = cached.Final.Keys.Where(k => ResNetStages.OfParameter(k) == ResNetStage.Head).ToList();
            foreach (var name in head)
            {
                Assert.IsTrue(computed.Final[name].allclose(cached.Final[name], rtol: 1e-5, atol: 1e-6),
                    $"{name}: the cached flips differ from the computed ones");
                Assert.IsFalse(unflipped.Final[name].allclose(cached.Final[name], rtol: 1e-3, atol: 1e-4),
                    $"{name}: training with flips ended where training without them did");
            }
            foreach (var name in cached.Final.Keys.Except(head))
                Assert.IsTrue(TestData.Same(cached.Snapshots[0][name], cached.Final[name]), $"{name} moved");
        }
    }
}

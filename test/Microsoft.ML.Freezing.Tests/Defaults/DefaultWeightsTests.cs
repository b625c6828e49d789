// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Freezing.Tests.MLNet;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests.Defaults
{
    /// <summary>
    /// What the trainer and the featurizer start from when given no weights: ML.NET's pretrained ResNet-18, or random
    /// initialisation when asked for with <see cref="PretrainedWeights.None"/>; and the automatic learning rate.
    /// </summary>
    [TestClass]
    public sealed class DefaultWeightsTests
    {
        private static FrozenResNetTrainer.Options Options() => new FrozenResNetTrainer.Options
        {
            FeatureColumnName = "ImageSource", ImageSize = 32, Epochs = 1, BatchSize = 8, Seed = 1,
        };

        private static (FrozenResNetTransformer Model, List<string> Log) Fit(FrozenResNetTrainer.Options options,
            int images)
        {
            var ml = new MLContext(seed: 1);
            var log = new List<string>();
            ml.Log += (_, e) => { lock (log) log.Add(e.RawMessage); };
            var data = ml.Data.LoadFromEnumerable(GeneratedImages.Stripes(images, seed: 4));
            var keyed = ml.Transforms.Conversion.MapValueToKey("Label").Fit(data).Transform(data);
            return (ml.MulticlassClassification.Trainers.FrozenResNet(options).Fit(keyed), log);
        }

        private const StringComparison Ordinal = StringComparison.Ordinal;

        private static double HeadRate(FrozenResNetTransformer model)
            => model.History[0].Record.StageLearningRates[ResNetStage.Head];

        /// <summary>True when every backbone tensor (all but the head) of the two networks is identical.</summary>
        private static bool SameBackbone(ResNet a, ResNet b)
        {
            var other = b.state_dict();
            return a.state_dict().Where(p => !p.Key.StartsWith("fc.", StringComparison.Ordinal))
                .All(p => other.TryGetValue(p.Key, out var t) && p.Value.equal(t).all().item<bool>());
        }

        [TestMethod]
        public void WithoutWeightsTheTrainerStartsFromMLNetsResNet18()
        {
            var (model, log) = Fit(Options(), images: 12);
            using (model)
            {
                // One epoch with the default AllButHead freeze leaves the backbone exactly as loaded.
                using var reference = PretrainedWeights.MLNetResNet18().CreateNetwork(2, seed: 1);
                Assert.AreEqual(reference.Definition, model.Model.Definition);
                Assert.IsTrue(SameBackbone(model.Model.Network, reference), "the backbone is not ML.NET's ResNet-18");
                Assert.AreEqual(TrainingDefaults.PretrainedLearningRate, HeadRate(model));
                Assert.IsTrue(log.Any(l => l.Contains("learning rate 0.001 (automatic)")), string.Join("\n", log));
                // 12 images: too few to hold any out, and the log says so.
                Assert.IsNull(model.History[0].Record.ValidationLoss);
                Assert.AreEqual(1, log.Count(l => l.StartsWith("No validation split: only 12 images", Ordinal)));
            }
        }

        [TestMethod]
        public void PretrainedWeightsNoneGivesARandomNetworkAndASetRateWins()
        {
            var options = Options();
            options.PretrainedWeights = PretrainedWeights.None;
            options.Freeze = FreezeMask.AllButHead; // keeps the backbone at its initialisation
            options.LearningRate = 0.05;
            var (model, _) = Fit(options, images: 12);
            using (model)
            {
                using var random = new ResNet(ResNetDefinition.For(ResNetArchitecture.ResNet18, 2), seed: 1);
                Assert.AreEqual(random.Definition, model.Model.Definition);
                Assert.IsTrue(SameBackbone(model.Model.Network, random), "the backbone is not the seeded random one");
                Assert.AreEqual(0.05, HeadRate(model));
            }
            Assert.AreEqual(TrainingDefaults.RandomInitLearningRate, PretrainedWeights.None.RecommendedLearningRate);
        }

        [TestMethod]
        public void AnotherArchitectureWithoutWeightsIsAnErrorThatNamesPretrainedWeightsNone()
        {
            var ml = new MLContext(seed: 1);
            var options = Options();
            options.Architecture = ResNetArchitecture.ResNet50;
            var trainers = ml.MulticlassClassification.Trainers;
            var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => trainers.FrozenResNet(options));
            StringAssert.Contains(error.Message, "No pretrained weights are built in for ResNet50");
            StringAssert.Contains(error.Message, "PretrainedWeights.None");

            options.PretrainedWeights = PretrainedWeights.None;
            Assert.IsNotNull(trainers.FrozenResNet(options));
        }

        [TestMethod]
        public void ValidationIsHeldOutByDefaultAndZeroSwitchesItOff()
        {
            var options = Options();
            options.PretrainedWeights = PretrainedWeights.None;
            options.Epochs = 2;
            var (model, log) = Fit(options, images: 60);
            using (model)
            {
                Assert.IsTrue(model.History.All(e => e.Record.ValidationLoss.HasValue));
                var split = log.Where(l => l.StartsWith("Validation split", Ordinal)).ToList();
                Assert.AreEqual(1, split.Count, string.Join("\n", log));
                StringAssert.Contains(split[0],
                    "54 training (horizontal 27, vertical 27) / 6 validation (horizontal 3, vertical 3)");
                Assert.IsTrue(log.Any(l => l.Contains("best epoch by validation loss kept")), string.Join("\n", log));
            }

            options.ValidationFraction = 0;
            var (unvalidated, quiet) = Fit(options, images: 60);
            using (unvalidated)
            {
                Assert.IsTrue(unvalidated.History.All(e => e.Record.ValidationLoss is null));
                Assert.IsFalse(quiet.Any(l => l.Contains("validation split", StringComparison.OrdinalIgnoreCase)));
            }
        }

        [TestMethod]
        public void WithoutWeightsTheFeaturizerUsesMLNetsResNet18()
        {
            var ml = new MLContext(seed: 1);
            var data = ml.Data.LoadFromEnumerable(GeneratedImages.Stripes(8, seed: 6));
            using var byDefault = ml.Transforms.ResNetFeatures("Features", "ImageSource", imageSize: 32).Fit(data);
            using var explicitly = ml.Transforms
                .ResNetFeatures("Features", "ImageSource", PretrainedWeights.MLNetResNet18(), imageSize: 32).Fit(data);
            var a = byDefault.Transform(data).GetColumn<float[]>("Features").ToArray();
            var b = explicitly.Transform(data).GetColumn<float[]>("Features").ToArray();
            Assert.AreEqual(8, a.Length);
            for (int i = 0; i < a.Length; i++)
                CollectionAssert.AreEqual(b[i], a[i]);

            var none = new ResNetFeaturizerEstimator.Options
            {
                InputColumnName = "ImageSource", Weights = PretrainedWeights.None,
            };
            Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.ResNetFeatures(none));
        }
    }
}

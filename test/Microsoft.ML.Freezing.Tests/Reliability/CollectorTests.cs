// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Freezing.Tests.MLNet;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing.Tests.Reliability
{
    /// <summary>
    /// Whole training and scoring runs under <see cref="CollectingThread"/> give the floats of the same runs without
    /// it. Before the library held its Scalars and temporaries, these runs failed within seconds: a BatchNorm's batch
    /// counter ("Expected false to be true"), BatchNorm folding, the validation loss's square ("INTERNAL ASSERT
    /// FAILED"), a weight snapshot's clone (SIGSEGV).
    /// </summary>
    [TestClass]
    public sealed class CollectorTests
    {
        private static readonly TimeSpan Duration = TimeSpan.FromSeconds(20);

        private static TensorImageSource Images(int count, ulong seed)
        {
            using var generator = new Generator(seed);
            using Scalar two = 2.0, minusOne = -1.0, one = 1.0;
            using var images = rand(new long[] { count, 3, 32, 32 }, generator: generator).mul_(two)
                .add_(minusOne, one);
            using var labels = randint(3, new long[] { count }, generator: generator);
            return new TensorImageSource(images, labels);
        }

        // Every floating-point tensor's sum after training, and the loss on the validation images.
        private static float[] TrainEngine(string setup)
        {
            using var model = new ResNet(TestData.TinyDefinition(), seed: 11);
            using var train = Images(64, 7);
            using var validation = Images(24, 8);
            var options = new FineTuneOptions
            {
                Epochs = 4, BatchSize = 8, LearningRate = 0.01, Seed = 1, RestoreBestEpoch = true,
                Freeze = FreezeMask.AllButHead, Unfreezing = UnfreezeSchedule.Auto(),
            };
            options = setup switch
            {
                "sgd" => options with
                {
                    HorizontalFlip = true, LearningRateSchedule = LearningRateSchedule.OneCycle,
                    LayerLearningRateDecay = 2, Nesterov = true,
                },
                "adamw" => options with
                {
                    Optimizer = OptimizerKind.AdamW, BatchNorm = BatchNormPolicy.TrainAffine,
                    Unfreezing = UnfreezeSchedule.Gradual(1, 1),
                    LearningRateSchedule = LearningRateSchedule.SlantedTriangular,
                },
                _ => options with
                {
                    FrozenPrefixPrecision = InferencePrecision.BFloat16, LearningRateSchedule = LearningRateSchedule.Cosine,
                },
            };
            using var tuner = new FineTuner(model, options);
            tuner.Fit(train, validation);
            using var scope = NewDisposeScope();
            var sums = model.state_dict().Values.Where(t => t.is_floating_point()).Select(t => t.sum().item<float>());
            return sums.Append((float)tuner.Evaluate(validation).Loss).ToArray();
        }

        [TestMethod]
        public void EngineTrainingUnderACollectingThreadEqualsTrainingWithout()
        {
            string[] setups = { "sgd", "adamw", "bf16" };
            var expected = setups.ToDictionary(s => s, TrainEngine);
            int round = 0;
            long runs = CollectingThread.Hammer(() =>
            {
                string setup = setups[round++ % setups.Length];
                CollectionAssert.AreEqual(expected[setup], TrainEngine(setup), $"{setup}, run {round}");
            }, Duration, atLeast: setups.Length);
            Assert.IsGreaterThanOrEqualTo(3L, runs);
        }

        // Scores of a trained pipeline (Transform and a PredictionEngine) and a featurizer's features, concatenated.
        private static float[] TrainAndScore(IReadOnlyList<ModelInput> rows)
        {
            var ml = new MLContext(seed: 1);
            var data = ml.Data.LoadFromEnumerable(rows);
            var options = TinyModel.Options(epochs: 3);
            options.Freeze = FreezeMask.AllButHead;
            options.Unfreezing = UnfreezeSchedule.Auto();
            options.ValidationFraction = 0.25;
            options.Augmentation = ImageAugmentation.FlipAndCrop;
            using var model = TinyModel.Pipeline(ml, options).Fit(data);
            var scores = model.Transform(data).GetColumn<float[]>("Score").SelectMany(s => s);
            using var engine = TinyModel.Engine(ml, model);
            var one = engine.Predict(rows[0]).Score;
            using var featurizer = ml.Transforms.ResNetFeatures("Features", "ImageSource", TinyModel.Weights,
                ResNetStage.Layer2).Fit(data);
            var features = featurizer.Transform(data).GetColumn<float[]>("Features").SelectMany(f => f);
            return scores.Concat(one).Concat(features).ToArray();
        }

        [TestMethod]
        public void TrainerAndScoringUnderACollectingThreadEqualRunsWithout()
        {
            var rows = GeneratedImages.Stripes(64, seed: 21);
            var expected = TrainAndScore(rows);
            int round = 0;
            long runs = CollectingThread.Hammer(
                () => CollectionAssert.AreEqual(expected, TrainAndScore(rows), $"run {++round}"), Duration, atLeast: 2);
            Assert.IsGreaterThanOrEqualTo(2L, runs);
        }
    }
}

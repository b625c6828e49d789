// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests.Defaults
{
    /// <summary>
    /// The automatic learning rate (each weights' <see cref="PretrainedWeights.RecommendedLearningRate"/>) trains on
    /// real photos from every weights source at hand. Two short epochs of the trainer's defaults (pretrained: the head,
    /// then everything thaws; random: everything trains) stay finite and do not blow up (the first epoch of a full
    /// thaw is unsettled, and 96 images overfit, so "falling" is not the claim there); with layer4 thawing instead
    /// (Gradual(1,1)), the second epoch's training and validation losses fall (random weights: the training loss falls
    /// and the validation loss does not jump).
    /// </summary>
    [TestClass]
    public sealed class RecommendedLearningRateTests
    {
        private const int ImageSize = 64;

        private const string TorchvisionHint = "run eng/torchvision-references.sh";

        private static PretrainedWeights Weights(string source) => source switch
        {
            "mlnet-resnet18" => PretrainedWeights.MLNetResNet18(),
            "keras-resnet50" => PretrainedWeights.KerasResNet50(
                Assets.Require(PretrainedWeights.KerasResNet50ModelPath, "run eng/fetch-keras-resnet50.sh")),
            "torchvision-resnet18" => PretrainedWeights.FromPyTorch(
                Assets.Require(Path.Combine(Assets.Folder("torchvision"), "resnet18.pth"), TorchvisionHint)),
            "none" => PretrainedWeights.None,
            _ => throw new ArgumentOutOfRangeException(nameof(source)),
        };

        [TestMethod]
        [DataRow("mlnet-resnet18", 0.001)]
        [DataRow("keras-resnet50", 0.001)]
        [DataRow("torchvision-resnet18", 0.001)]
        [DataRow("none", 0.003)]
        public void RecommendedRateTrainsOnRealPhotos(string source, double expectedRate)
        {
            var weights = Weights(source);
            Assert.AreEqual(expectedRate, weights.RecommendedLearningRate);

            var ml = new MLContext(seed: 1);
            var keys = ml.Transforms.Conversion.MapValueToKey("Label", "Label");
            var train = ml.Data.LoadFromEnumerable(DogsAndCatsImages.Rows(0, 48));
            var validation = keys.Fit(train).Transform(ml.Data.LoadFromEnumerable(DogsAndCatsImages.Rows(500, 50)));
            List<EpochRecord> Fit(UnfreezeSchedule unfreezing)
            {
                var options = new FrozenResNetTrainer.Options
                {
                    FeatureColumnName = "ImageSource", PretrainedWeights = weights, ImageSize = ImageSize, Epochs = 2,
                    BatchSize = 16, Seed = 1, ValidationSet = validation, Unfreezing = unfreezing,
                };
                using var model = keys.Append(ml.MulticlassClassification.Trainers.FrozenResNet(options)).Fit(train);
                var records = model.LastTransformer.History.Select(e => e.Record).ToList();
                foreach (var epoch in records)
                    Console.WriteLine($"{source} ({unfreezing?.ToString() ?? "default"}): {epoch}");
                return records;
            }

            var defaultRun = Fit(null);
            var defaults = defaultRun.Select(e => e.ValidationLoss.Value).ToArray();
            Assert.IsTrue(defaults.All(double.IsFinite), $"{source}: validation losses {string.Join(", ", defaults)}");
            Assert.IsTrue(defaults[1] < 1.1 * defaults[0],
                $"{source}: the defaults' validation loss jumped: {defaults[0]:F4} -> {defaults[1]:F4}");

            var history = source == "none" ? defaultRun : Fit(UnfreezeSchedule.Gradual(1, 1));
            Assert.AreEqual(2, history.Count);
            Assert.AreEqual(expectedRate, history[0].StageLearningRates[ResNetStage.Head], 1e-12);
            var losses = history.Select(e => e.ValidationLoss.Value).ToArray();
            Assert.IsTrue(losses.All(double.IsFinite), $"{source}: validation losses {string.Join(", ", losses)}");
            Assert.IsTrue(history[1].TrainLoss < history[0].TrainLoss,
                $"{source}: training loss rose: {history[0].TrainLoss:F4} -> {history[1].TrainLoss:F4}");
            if (source is "torchvision-resnet18" or "none")
            {
                // Random weights: the cached torchvision file holds seeded ones (eng/torchvision-references.sh), whose
                // frozen features carry little signal, so a probe on them moves the validation loss by noise; a random
                // network trained whole on 48 images moves it by the kernels' rounding (0.7130 -> 0.6678 on a Zen 5
                // VM, 0.7223 -> 0.7253 there under AVX2 caps, the training loss falling in both). Not diverging is the
                // claim there.
                Assert.IsTrue(losses[1] < 1.1 * losses[0],
                    $"{source}: validation loss jumped: {losses[0]:F4} -> {losses[1]:F4}");
            }
            else
                Assert.IsTrue(losses[1] < losses[0],
                    $"{source}: validation loss rose: {losses[0]:F4} -> {losses[1]:F4}");
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing.Tests.MLNet
{
    /// <summary>
    /// The two scoring engines (<see cref="InferenceEngine"/>) on real photos with ML.NET's ResNet-18 at 224 px: ONNX
    /// Runtime on the exported network against TorchSharp's folded and plain modules, for class probabilities and for
    /// features; and the engine's snapshot of the weights.
    /// </summary>
    [TestClass]
    [TestCategory(Categories.Numerical)]
    public sealed class InferenceEngineTests
    {
        private const int Size = 224;

        private static string OnnxPath
            => Path.Combine(AppContext.BaseDirectory, "DnnImageModels", "ResNet18Onnx", "ResNet18.onnx");

        /// <summary>The four photos of the assets and their mirror images: 8 images of RGB bytes.</summary>
        private static List<byte[]> Photos(ImagePreprocessing preprocessing)
        {
            var folder = Assets.Require(Assets.Folder("photos"), "run eng/prepare-assets.sh");
            var images = new List<byte[]>();
            foreach (var file in Directory.GetFiles(folder).OrderBy(f => f, StringComparer.Ordinal))
            {
                var rgb = preprocessing.DecodeAndResize(File.ReadAllBytes(file));
                var mirrored = new byte[rgb.Length];
                for (int y = 0; y < Size; y++)
                    for (int x = 0; x < Size; x++)
                        Array.Copy(rgb, (y * Size + x) * 3, mirrored, (y * Size + Size - 1 - x) * 3, 3);
                images.Add(rgb);
                images.Add(mirrored);
            }
            Assert.AreEqual(8, images.Count);
            return images;
        }

        private static FrozenResNetModel Model(out List<byte[]> photos)
        {
            var weights = PretrainedWeights.MLNetResNet18(OnnxPath);
            var preprocessing = weights.Preprocessing.WithImageSize(Size);
            photos = Photos(preprocessing);
            var network = weights.CreateNetwork(10, seed: 1);
            return new FrozenResNetModel(network, Enumerable.Range(0, 10).Select(i => $"c{i}").ToArray(), preprocessing,
                ComputeDevice.Cpu);
        }

        [TestMethod]
        public void OnnxRuntimeScoresAsTorchSharpWithin1e4OfTheLogitRange()
        {
            using var model = Model(out var photos);
            Assert.AreEqual(InferenceEngine.OnnxRuntime, model.Engine, "the CPU default");
            var onnx = model.Score(photos);
            var onnxSingle = model.Score(photos.Take(1).ToList());

            model.Engine = InferenceEngine.TorchSharp;
            var folded = model.Score(photos); // 8 images: folded
            var modules = photos.Select(p => model.Score(new[] { p })[0]).ToList(); // one at a time: the modules

            ScoreComparison.AssertSameScores(folded, onnx, "ONNX Runtime vs TorchSharp folded, batch of 8");
            ScoreComparison.AssertSameScores(modules, onnx, "ONNX Runtime vs TorchSharp modules");
            ScoreComparison.AssertSameScores(modules.Take(1).ToList(), onnxSingle, "ONNX Runtime batch 1 vs modules");
            Assert.IsTrue(onnx.Select(Scores.PredictedKey).Distinct().Count() > 1 || onnx[0].Max() < 0.99,
                "the random head should not put every photo in one class with certainty");
        }

        [TestMethod]
        public void FeaturesOfBothEnginesAgreeWithin1e4OfTheirRange()
        {
            var ml = new MLContext(seed: 1);
            var weights = PretrainedWeights.MLNetResNet18(OnnxPath);
            var preprocessing = weights.Preprocessing.WithImageSize(Size);
            var photos = Photos(preprocessing);
            foreach (var stage in new[] { ResNetStage.Layer2, ResNetStage.Layer4 })
            {
                using var featurizer = new ResNetFeaturizerTransformer(ml, weights.CreateNetwork(0, seed: 1),
                    preprocessing, stage, "Image", "Features", 8, ComputeDevice.Cpu);
                var onnx = featurizer.GetFeatures(photos);
                featurizer.Engine = InferenceEngine.TorchSharp;
                var torch = featurizer.GetFeatures(photos);
                double range = torch.SelectMany(f => f).Max(v => Math.Abs(v));
                double difference = torch.Zip(onnx, (t, o) => t.Zip(o, (a, b) => Math.Abs(a - b)).Max()).Max();
                Console.WriteLine($"{stage.Name()}: features differ by {difference / range:G3} of their range");
                Assert.AreEqual(OnnxExporter.FeatureDimension(weights.Definition, stage), onnx[0].Length);
                Assert.IsTrue(difference <= 1e-4 * range, $"{stage.Name()}: {difference / range:G3} of the range");
            }
        }

        [TestMethod]
        public void OnnxRuntimeKeepsItsSnapshotUntilTheEngineIsSetAgain()
        {
            using var model = Model(out var photos);
            var batch = photos.Take(2).ToList();
            var before = model.Score(batch);
            using (no_grad())
                model.Network.state_dict()["fc.bias"].add_(5f * arange(10, dtype: ScalarType.Float32));
            CollectionAssert.AreEqual(before[0], model.Score(batch)[0], "the session's snapshot");
            model.Engine = InferenceEngine.OnnxRuntime; // a new snapshot
            var after = model.Score(batch);
            model.Engine = InferenceEngine.TorchSharp;
            ScoreComparison.AssertSameScores(model.Score(batch), after, "the new snapshot vs TorchSharp");
            Assert.IsTrue(ScoreComparison.LogitDifference(before, after) > 0.1, "the weights changed the scores");
        }

        [TestMethod]
        public void ANetworkInTrainingModeScoresOnTorchSharp()
        {
            using var model = Model(out var photos);
            var batch = photos.Take(2).ToList();
            model.Network.train();
            try
            {
                var expected = OnTorchSharp(model, batch);
                CollectionAssert.AreEqual(expected[0], model.Score(batch)[0], "batch statistics, as the module");
            }
            finally
            {
                model.Network.eval();
            }
        }

        private static float[][] OnTorchSharp(FrozenResNetModel model, List<byte[]> batch)
        {
            var previous = model.Engine;
            model.Engine = InferenceEngine.TorchSharp;
            var scores = model.Score(batch);
            model.Engine = previous;
            return scores;
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.OnnxRuntime;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;
using OrtFloatTensor = Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>;
using Tensor = TorchSharp.torch.Tensor;

namespace Microsoft.ML.Freezing.Tests.Backbone
{
    /// <summary>
    /// The folded snapshot against the plain modules and ONNX Runtime on real photos with ML.NET's ResNet-18 at 224 px:
    /// the case in which oneDNN's channels-last kernels computed layer4 wrong (relative error 0.2) on an AVX-512 VM.
    /// Run a second time under AVX2 caps by eng/test.sh.
    /// </summary>
    [TestClass]
    [TestCategory(Categories.Numerical)]
    public sealed class FoldedRealPhotoTests
    {
        private const int Size = 224;

        private static string OnnxPath
            => Path.Combine(AppContext.BaseDirectory, "DnnImageModels", "ResNet18Onnx", "ResNet18.onnx");

        /// <summary>The four photos of the assets, each also mirrored, flipped and both: a batch of 16.</summary>
        private static Tensor Photos(ImagePreprocessing preprocessing)
        {
            var folder = Assets.Require(Assets.Folder("photos"), "run eng/prepare-assets.sh");
            var files = Directory.GetFiles(folder).OrderBy(f => f, StringComparer.Ordinal).ToArray();
            Assert.AreEqual(4, files.Length, string.Join(", ", files));
            using var scope = NewDisposeScope();
            var images = new List<Tensor>();
            foreach (var file in files)
            {
                var rgb = preprocessing.DecodeAndResize(File.ReadAllBytes(file));
                var image = preprocessing.Normalize(tensor(rgb, new long[] { 1, Size, Size, 3 }, ScalarType.Byte));
                images.AddRange(new[] { image, image.flip(3), image.flip(2), image.flip(2, 3) });
            }
            return cat(images, 0).MoveToOuterDisposeScope();
        }

        /// <summary>ML.NET's ResNet-18 (10 classes, BatchNorms in eval mode) and the 16 photos at 224 px; the caller
        /// disposes both.</summary>
        private static (ResNet Network, Tensor Photos) NetworkInEvalModeAndPhotos()
        {
            var weights = PretrainedWeights.MLNetResNet18(OnnxPath);
            var network = weights.CreateNetwork(10, seed: 1);
            network.eval();
            return (network, Photos(weights.Preprocessing.WithImageSize(Size)));
        }

        private static double RelativeDifference(Tensor expected, Tensor actual)
        {
            using var scope = NewDisposeScope();
            double range = expected.abs().max().item<float>();
            Assert.IsTrue(range > 1, $"activations up to {range:G3} test nothing");
            return (expected - actual.contiguous()).abs().max().item<float>() / range;
        }

        [TestMethod]
        public void EveryFoldedStageMatchesTheModulesWithin1e4OfItsRange()
        {
            var (network, photos) = NetworkInEvalModeAndPhotos();
            using var disposeNetwork = network;
            using var disposePhotos = photos;
            using var noGrad = no_grad();
            using var folded = network.Fold();
            var input = photos.alias();
            var report = new List<string>();
            try
            {
                foreach (var stage in ResNetStages.All)
                {
                    // Each stage from the modules' input, so one stage's error does not hide in the next one's.
                    var expected = network.ForwardStage(stage, input);
                    using var actual = folded.ForwardStage(stage, input);
                    double error = RelativeDifference(expected, actual);
                    report.Add($"{stage.Name()} {error:G2}");
                    Assert.IsTrue(error <= 1e-4, string.Join(", ", report));
                    input.Dispose();
                    input = expected;
                }
            }
            finally
            {
                input.Dispose();
            }
            Console.WriteLine("folded vs modules, max difference / range: " + string.Join(", ", report));
        }

        [TestMethod]
        public void OnnxRuntimePrefixGivesEveryStageOutputOfTheModulesWithin1e4OfItsRange()
        {
            var (network, photos) = NetworkInEvalModeAndPhotos();
            using var disposeNetwork = network;
            using var disposePhotos = photos;
            using var noGrad = no_grad();
            using var prefix = OnnxRuntimePrefix.Create(network, ResNetStage.Layer4,
                new[] { ResNetStage.Stem, ResNetStage.Layer2, ResNetStage.Layer3 }, Size, Size, threads: 2);
            var outputs = prefix.Run(photos);
            var report = new List<string>();
            try
            {
                CollectionAssert.AreEquivalent(
                    new[] { ResNetStage.Stem, ResNetStage.Layer2, ResNetStage.Layer3, ResNetStage.Layer4 },
                    outputs.Keys.ToArray());
                var input = photos.alias();
                foreach (var stage in new[] { ResNetStage.Stem, ResNetStage.Layer1, ResNetStage.Layer2,
                    ResNetStage.Layer3, ResNetStage.Layer4 })
                {
                    var expected = network.ForwardStage(stage, input);
                    input.Dispose();
                    input = expected;
                    if (!outputs.TryGetValue(stage, out var actual))
                        continue;
                    CollectionAssert.AreEqual(expected.shape, actual.shape, stage.Name());
                    double error = RelativeDifference(expected, actual);
                    report.Add($"{stage.Name()} {error:G2}");
                    Assert.IsTrue(error <= 1e-4, string.Join(", ", report));
                }
                input.Dispose();
            }
            finally
            {
                foreach (var output in outputs.Values)
                    output.Dispose();
            }
            Console.WriteLine("ONNX Runtime prefix vs modules, max difference / range: " + string.Join(", ", report));
        }

        [TestMethod]
        public void FoldedFeaturesMatchOnnxRuntimeOnTheOriginalGraph()
        {
            var weights = PretrainedWeights.MLNetResNet18(OnnxPath);
            using var network = weights.CreateNetwork(10, seed: 1);
            network.eval();
            using var photos = Photos(weights.Preprocessing.WithImageSize(Size));
            using var folded = network.Fold(ResNetStage.Stem, ResNetStage.Layer4);
            using var options = new SessionOptions { IntraOpNumThreads = 2 };
            using var session = new InferenceSession(OnnxPath, options);
            using var noGrad = no_grad();
            using var stage4 = folded.Forward(photos);
            using var features = stage4.mean(new long[] { 2, 3 });

            for (int i = 0; i < photos.shape[0]; i++)
            {
                // The ONNX graph's batch is fixed at 1.
                using var one = photos[i].unsqueeze(0).contiguous();
                var feed = new[] { NamedOnnxValue.CreateFromTensor("Input247",
                    new OrtFloatTensor(one.data<float>().ToArray(), new[] { 1, 3, Size, Size })) };
                using var results = session.Run(feed);
                var onnx = results.Single(r => r.Name == "Pooling395_Output_0").AsTensor<float>().ToArray();
                using var expected = tensor(onnx);
                using var actual = features[i];
                double error = RelativeDifference(expected, actual);
                Assert.IsTrue(error <= 1e-4, $"photo {i}: features differ by {error:G3} of their range");
            }
        }
    }
}

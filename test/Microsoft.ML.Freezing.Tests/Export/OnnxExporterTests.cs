// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;
using System.Linq;
using Microsoft.ML.OnnxRuntime;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;
using OrtFloatTensor = Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>;
using Tensor = TorchSharp.torch.Tensor;

namespace Microsoft.ML.Freezing.Tests.Export
{
    /// <summary>
    /// The engine-level exporter (<see cref="OnnxExporter"/>): ONNX Runtime reproduces TorchSharp's outputs (including
    /// the preprocessing the graph takes over) for Basic and Bottleneck networks, both layouts, RGB and BGR, and batch
    /// sizes 1 and 3 on one session (the batch dimension is dynamic).
    /// </summary>
    [TestClass]
    public sealed class OnnxExporterTests
    {
        private const int Side = 32;
        private static string _dir;

        [ClassInitialize]
        public static void CreateFolder(TestContext _)
        {
            _dir = Path.Combine(Path.GetTempPath(), "freezing-onnx-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(_dir);
        }

        [ClassCleanup]
        public static void DeleteFolder() => Directory.Delete(_dir, recursive: true);

        [TestMethod]
        public void ResNet18ProbabilitiesAndLogitsMatchOnnxRuntimeAtBatchSizes1And3()
        {
            using var network = WithRandomBatchNorm(new ResNet(ResNetDefinition.ResNet18(numClasses: 5), seed: 11),
                seed: 12);
            var preprocessing = ImagePreprocessing.ImageNet(Side);
            string probabilities = Path.Combine(_dir, "resnet18.onnx");
            string logits = Path.Combine(_dir, "resnet18-logits.onnx");
            OnnxExporter.Export(network, preprocessing, probabilities);
            OnnxExporter.Export(network, preprocessing, logits,
                new OnnxExportOptions { Output = OnnxExportOutput.Logits, OutputName = "Logits" });

            using var probabilitySession = Session(probabilities);
            using var logitSession = Session(logits);
            foreach (int batch in new[] { 1, 3 })
            {
                var pixels = RandomPixels(batch, seed: 100 + batch);
                var (expectedLogits, expectedProbabilities) = Reference(network, preprocessing, pixels, batch);
                var actual = Run(probabilitySession, "Pixels", "Score", Nchw(pixels, batch),
                    new[] { batch, 3, Side, Side }, out var shape);
                CollectionAssert.AreEqual(new[] { batch, 5 }, shape);
                var actualLogits = Run(logitSession, "Pixels", "Logits", Nchw(pixels, batch),
                    new[] { batch, 3, Side, Side }, out _);
                double diff = MaxAbsDiff(expectedProbabilities, actual),
                logitDiff = MaxAbsDiff(expectedLogits, actualLogits);
                Console.WriteLine(
                    $"ResNet-18, batch {batch}: probabilities max abs diff {diff:E2}, logits {logitDiff:E2} (largest " +
                    $"|logit| {expectedLogits.Max(Math.Abs):F2})");
                Assert.IsTrue(logitDiff <= 1e-4 * Math.Max(1, expectedLogits.Max(Math.Abs)),
                    $"batch {batch}: logits differ by {logitDiff:E3}");
                Assert.IsTrue(expectedProbabilities.Max() < 0.999, "saturated probabilities would test little");
            }
        }

        [TestMethod]
        public void BottleneckV1WithBiasBgrAndNhwcFeaturesMatchOnnxRuntime()
        {
            // Keras-like: v1 strides, conv biases, BatchNorm epsilon 1e-3, BGR with mean subtraction on 0-255 values;
            // no fc.
            var definition = new ResNetDefinition(ResNetBlockType.Bottleneck, new[] { 1, 1, 2, 1 }, 0, ResNetVariant.V1,
                1e-3, convBias: true);
            using var network = WithRandomBatchNorm(new ResNet(definition, seed: 21), seed: 22);
            var preprocessing = new ImagePreprocessing(Side, 1f, new[] { 103.939f, 116.779f, 123.68f },
                new[] { 1f, 1f, 1f }, ChannelOrder.Bgr);
            foreach (var stage in new[] { ResNetStage.Layer2, ResNetStage.Layer4 })
            {
                string path = Path.Combine(_dir, $"bottleneck-{stage.Name()}.onnx");
                OnnxExporter.Export(network, preprocessing, path, new OnnxExportOptions
                {
                    Output = OnnxExportOutput.Features, FeatureStage = stage, InputLayout = OnnxInputLayout.Nhwc,
                    InputName = "image", OutputName = "features",
                });
                using var session = Session(path);
                foreach (int batch in new[] { 1, 3 })
                {
                    var pixels = RandomPixels(batch, seed: 200 + batch);
                    float[] expected;
                    using (NewDisposeScope())
                    using (no_grad())
                    {
                        var input = preprocessing.Normalize(tensor(pixels, new long[] { batch, Side, Side, 3 }));
                        var y = network.Forward(input, ResNetStage.Stem, stage);
                        expected = nn.functional.adaptive_avg_pool2d(y, 1).flatten(1).data<float>().ToArray();
                    }
                    var actual = Run(session, "image", "features", pixels.Select(p => (float)p).ToArray(),
                        new[] { batch, Side, Side, 3 }, out var shape);
                    int width = OnnxExporter.FeatureDimension(definition, stage);
                    CollectionAssert.AreEqual(new[] { batch, width }, shape);
                    double diff = MaxAbsDiff(expected, actual);
                    Console.WriteLine(
                        $"Bottleneck v1 {stage.Name()} ({width} features), batch {batch}: max abs diff {diff:E2} " +
                        $"(largest {expected.Max(Math.Abs):F3})");
                    Assert.IsTrue(expected.Max(Math.Abs) > 0.01, "features near zero would test little");
                    Assert.IsTrue(diff <= 1e-4 * Math.Max(1, expected.Max(Math.Abs)),
                        $"{stage}, batch {batch}: max abs diff {diff:E3}");
                }
            }
        }

        [TestMethod]
        public void GraphDeclaresOpsetDynamicBatchAndMetadata()
        {
            using var network = new ResNet(ResNetDefinition.ResNet18(numClasses: 2), seed: 1);
            var model = OnnxExporter.CreateModel(network, ImagePreprocessing.ImageNet(Side),
                new OnnxExportOptions { ClassNames = new[] { "cat", "dog" } });
            Assert.AreEqual(OnnxExporter.OpsetVersion, (int)model.OpsetImport.Single().Version);
            Assert.AreEqual(17, OnnxExporter.OpsetVersion);
            var input = model.Graph.Input.Single();
            Assert.AreEqual("Pixels", input.Name);
            var dims = input.Type.TensorType.Shape.Dim;
            Assert.AreEqual(OnnxExporter.BatchDimension, dims[0].DimParam);
            CollectionAssert.AreEqual(new long[] { 3, Side, Side }, dims.Skip(1).Select(d => d.DimValue).ToArray());
            var output = model.Graph.Output.Single();
            Assert.AreEqual("Score", output.Name);
            Assert.AreEqual(OnnxExporter.BatchDimension, output.Type.TensorType.Shape.Dim[0].DimParam);
            Assert.AreEqual("[\"cat\",\"dog\"]", model.MetadataProps.Single(p => p.Key == "class_names").Value);
            StringAssert.Contains(model.MetadataProps.Single(p => p.Key == "preprocessing").Value, "CenterCrop");
            // Every node type is one of the few the exporter writes; initializers keep the state-dict names.
            CollectionAssert.IsSubsetOf(model.Graph.Node.Select(n => n.OpType).Distinct().ToArray(),
                new[] { "Mul", "Add", "Conv", "BatchNormalization", "Relu", "MaxPool", "GlobalAveragePool", "Flatten",
                    "Gemm", "Softmax" });
            Assert.IsTrue(model.Graph.Initializer.Any(t => t.Name == "layer4.1.bn2.running_var"));
        }

        [TestMethod]
        public void MisuseGivesClearErrors()
        {
            using var headless = new ResNet(ResNetDefinition.ResNet18(numClasses: 0), seed: 1);
            var preprocessing = ImagePreprocessing.ImageNet(Side);
            var error = Assert.ThrowsExactly<ArgumentException>(
                () => OnnxExporter.CreateModel(headless, preprocessing));
            StringAssert.Contains(error.Message, "Features");
            Assert.ThrowsExactly<ArgumentException>(() => OnnxExporter.CreateModel(headless, preprocessing,
                new OnnxExportOptions { Output = OnnxExportOutput.Features, InputName = "conv1" }));
            Assert.ThrowsExactly<ArgumentException>(() => OnnxExporter.CreateModel(headless, preprocessing,
                new OnnxExportOptions { Output = OnnxExportOutput.Features, InputName = "x", OutputName = "x" }));
            Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => OnnxExporter.CreateModel(headless, preprocessing,
                new OnnxExportOptions { Output = OnnxExportOutput.Features, FeatureStage = ResNetStage.Head }));
        }

        /// <summary>BatchNorm statistics and affine parameters away from their identity initialisation, so the export
        /// of each is tested.</summary>
        internal static ResNet WithRandomBatchNorm(ResNet network, ulong seed)
        {
            using var generator = new Generator(seed);
            using var noGrad = no_grad();
            foreach (var (_, bn, _) in network.BatchNorms())
            {
                bn.running_mean.normal_(0, 0.1, generator);
                bn.running_var.uniform_(0.5, 1.5, generator);
                bn.weight.uniform_(0.5, 1.5, generator);
                bn.bias.normal_(0, 0.1, generator);
            }
            network.eval();
            return network;
        }

        /// <summary>Random RGB bytes [batch, H, W, 3].</summary>
        internal static byte[] RandomPixels(int batch, int seed)
        {
            var pixels = new byte[batch * Side * Side * 3];
            new Random(seed).NextBytes(pixels);
            return pixels;
        }

        /// <summary>Bytes [B, H, W, 3] as floats [B, 3, H, W].</summary>
        internal static float[] Nchw(byte[] hwc, int batch)
        {
            var result = new float[hwc.Length];
            int plane = Side * Side;
            for (int b = 0; b < batch; b++)
                for (int i = 0; i < plane; i++)
                    for (int c = 0; c < 3; c++)
                        result[(b * 3 + c) * plane + i] = hwc[(b * plane + i) * 3 + c];
            return result;
        }

        private static (float[] Logits, float[] Probabilities) Reference(ResNet network,
            ImagePreprocessing preprocessing, byte[] pixels, int batch)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var logits = network.call(preprocessing.Normalize(tensor(pixels, new long[] { batch, Side, Side, 3 })));
            return (logits.data<float>().ToArray(), nn.functional.softmax(logits, 1).data<float>().ToArray());
        }

        internal static InferenceSession Session(string path)
        {
            using var options = new SessionOptions { IntraOpNumThreads = 2 };
            return new InferenceSession(path, options);
        }

        internal static float[] Run(InferenceSession session, string input, string output, float[] data, int[] dims,
            out int[] shape)
        {
            using var results = session.Run(
                new[] { NamedOnnxValue.CreateFromTensor(input, new OrtFloatTensor(data, dims)) });
            var tensor = results.Single(r => r.Name == output).AsTensor<float>();
            shape = tensor.Dimensions.ToArray();
            return tensor.ToArray();
        }

        internal static double MaxAbsDiff(float[] expected, float[] actual)
        {
            Assert.AreEqual(expected.Length, actual.Length, "output sizes differ");
            return expected.Zip(actual, (e, a) => (double)Math.Abs(e - a)).Max();
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML.OnnxRuntime;
using OrtFloatTensor = Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using SkiaSharp;
using Microsoft.ML.Freezing.Tests.Images;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace Microsoft.ML.Freezing.Tests.Weights
{
    /// <summary>
    /// ML.NET's pretrained ResNet-18 (ResNet18.onnx of Microsoft.ML.DnnImageFeaturizer.ResNet18, which the test project
    /// references, so the file is in the test output): the importer's mapping, parity with ONNX Runtime, the factory's
    /// search and cache, and its errors.
    /// </summary>
    [TestClass]
    public sealed class MLNetResNet18Tests
    {
        private const string OnnxInput = "Input247";
        private const string OnnxOutput = "Pooling395_Output_0";

        private static string ModelPath
            => Path.Combine(AppContext.BaseDirectory, "DnnImageModels", "ResNet18Onnx", "ResNet18.onnx");
        private static string PreprocessPath
            => Path.Combine(AppContext.BaseDirectory, "DnnImageModels", "ResNetPrepOnnx", "ResNetPreprocess.onnx");

        [TestMethod]
        public void ImporterMappingEqualsTheCheckedTsv()
        {
            string tsv = RepoPaths.MLNetResNet18Mapping;
            Assert.IsTrue(File.Exists(tsv), $"Missing {tsv}.");
            var expected = File.ReadAllLines(tsv).Where(l => l.Length > 0).Select(l => l.Split('\t')).ToList();

            var mapping = MLNetResNet18Importer.ReadMapping(ModelPath);

            Assert.AreEqual(110, expected.Count);
            Assert.AreEqual(expected.Count, mapping.Count);
            for (int i = 0; i < expected.Count; i++)
            {
                // Same order too: both list the graph's nodes in order (a downsampling block's shortcut first).
                Assert.AreEqual(expected[i][0], mapping[i].OnnxName, $"row {i}");
                Assert.AreEqual(expected[i][1], mapping[i].Key, $"row {i}");
                Assert.AreEqual(expected[i][2], "[" + string.Join(", ", mapping[i].Shape) + "]",
                    $"row {i} ({mapping[i].Key})");
            }
            // torchvision resnet18 without fc (11,176,512) plus a third layer4 block (2 x 512x512x3x3 convs + 2 x 1,024
            // BN).
            Assert.AreEqual(15_897_152L,
                mapping.Where(m => !m.Key.Contains("running_", StringComparison.Ordinal))
                .Sum(m => m.Shape.Aggregate(1L, (a, d) => a * d)),
                "parameters (without BatchNorm buffers) of a Basic [2,2,2,3] ResNet without fc");
        }

        [TestMethod]
        public void ImportedWeightsDefineTheNetworkAndPreprocessing()
        {
            using var weights = MLNetResNet18Importer.Import(ModelPath);
            Assert.AreEqual(
                new ResNetDefinition(ResNetBlockType.Basic, new[] { 2, 2, 2, 3 }, 0, ResNetVariant.V1_5, 1e-5,
                convBias: false), weights.Definition);
            var p = weights.Preprocessing;
            Assert.AreEqual(ChannelOrder.Bgr, p.Channels);
            Assert.AreEqual(1f, p.Scale);
            Assert.AreEqual(224, p.ImageSize);
            CollectionAssert.AreEqual(new[] { 1f, 1f, 1f }, p.Std);

            // The shipped preprocessing graph swaps RGB to BGR and subtracts a mean image; its per-channel averages are
            // our means.
            var prep = Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(PreprocessPath)).Graph;
            var meanImage = prep.Initializer.Single(t => t.Name == "MeanImage");
            CollectionAssert.AreEqual(new long[] { 1, 3, 224, 224 }, meanImage.Dims.ToArray());
            CollectionAssert.AreEqual(new[] { "BInp", "GInp", "RInp" },
                prep.Node.Single(n => n.OpType == "Concat").Input.ToArray(), "BGR order");
            int plane = 224 * 224;
            for (int c = 0; c < 3; c++)
            {
                double average = Enumerable.Range(c * plane, plane).Average(i => (double)meanImage.FloatData[i]);
                Assert.AreEqual(average, p.Mean[c], 1e-3, $"channel {c} (BGR) mean");
            }
        }

        [TestMethod]
        public void FeaturesMatchOnnxRuntime()
        {
            var watch = Stopwatch.StartNew();
            using var weights = MLNetResNet18Importer.Import(ModelPath);
            using var network = new ResNet(weights.Definition, seed: 0);
            weights.LoadInto(network);
            network.eval();

            using var options = new SessionOptions { IntraOpNumThreads = 2 };
            using var session = new InferenceSession(ModelPath, options);
            Console.WriteLine($"import, build and ONNX Runtime session: {watch.Elapsed.TotalSeconds:F2} s");

            // Inputs already preprocessed (BGR, mean subtracted), fed to both sides: three random ones and an image.
            var inputs = new List<(string Name, Tensor Input)>();
            var generator = new Generator(20240607);
            for (int i = 0; i < 3; i++)
                inputs.Add(
                    ($"random {i}", rand(new long[] { 1, 3, 224, 224 }, generator: generator).mul_(255).sub_(120)));
            inputs.Add(("image", Preprocessed(SyntheticPhoto(), weights.Preprocessing)));

            double worst = 0;
            try
            {
                foreach (var (name, input) in inputs)
                {
                    watch.Restart();
                    float[] expected = RunOnnx(session, input);
                    double onnxSeconds = watch.Elapsed.TotalSeconds;
                    watch.Restart();
                    float[] actual;
                    using (no_grad())
                    using (var features = network.Features(input))
                    {
                        CollectionAssert.AreEqual(new long[] { 1, 512 }, features.shape);
                        actual = features.data<float>().ToArray();
                    }
                    double diff = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
                    double scale = expected.Max(Math.Abs);
                    Console.WriteLine(
                        $"{name}: max abs diff {diff:E2} (largest feature {scale:F3}); ONNX Runtime {onnxSeconds:F2} " +
                        $"s, ours {watch.Elapsed.TotalSeconds:F2} s");
                    Assert.IsTrue(scale > 0.1, $"{name}: the features are all near zero, which tests nothing");
                    Assert.IsTrue(diff <= ScoreComparison.Relative * scale,
                        $"{name}: max abs diff {diff:E3} on features up to {scale:G3}");
                    worst = Math.Max(worst, diff);
                }
            }
            finally
            {
                foreach (var (_, input) in inputs)
                    input.Dispose();
            }
            Console.WriteLine($"ONNX parity: max abs diff {worst:E2} over {inputs.Count} inputs");
        }

        [TestMethod]
        public void FactoryFindsTheModelInTheOutputAndConvertsOnce()
        {
            Assert.AreEqual(Path.GetFullPath(ModelPath), MLNetResNet18Importer.Resolve(null));

            // A fresh cache, so the first call converts; restored afterwards (tests run one at a time).
            string oldHome = Environment.GetEnvironmentVariable("FREEZING_HOME");
            string home = Path.Combine(Path.GetTempPath(), "freezing-mlnet-" + Guid.NewGuid().ToString("N"));
            Environment.SetEnvironmentVariable("FREEZING_HOME", home);
            try
            {
                string cached = Path.Combine(WeightCache.Folder,
                    $"{MLNetResNet18Importer.ConverterId}-{WeightCache.Hash(ModelPath)}.weights");
                Assert.IsFalse(File.Exists(cached));

                var watch = Stopwatch.StartNew();
                var first = PretrainedWeights.MLNetResNet18();
                double firstSeconds = watch.Elapsed.TotalSeconds;
                Assert.IsTrue(File.Exists(cached), "the first call writes the conversion to the cache");

                // Backdate the cache entry: a second call that converted again would rewrite it.
                var backdated = new DateTime(2001, 1, 1, 0, 0, 0, DateTimeKind.Utc);
                File.SetLastWriteTimeUtc(cached, backdated);
                watch.Restart();
                var second = PretrainedWeights.MLNetResNet18();
                double secondSeconds = watch.Elapsed.TotalSeconds;
                Assert.AreEqual(backdated, File.GetLastWriteTimeUtc(cached),
                    "the second call reads the cache and does not convert");
                Assert.AreEqual(1, Directory.GetFiles(WeightCache.Folder).Length, "no temporary files are left behind");
                Console.WriteLine(
                    $"first call (convert + cache) {firstSeconds:F2} s, second call (cached) {secondSeconds:F2} s");

                foreach (var weights in new[] { first, second })
                {
                    Assert.AreEqual(new ResNetDefinition(ResNetBlockType.Basic, new[] { 2, 2, 2, 3 }, 0),
                        weights.Definition);
                    Assert.AreEqual(MLNetResNet18Importer.Preprocessing, weights.Preprocessing);
                    StringAssert.Contains(weights.Description, MLNetResNet18Importer.PackageId);
                    Assert.AreEqual(ResNetArchitecture.ResNet18, weights.Architecture,
                        "CNTK's [2,2,2,3] network is ML.NET's ResNet-18");
                }

                // The cached weights are the imported ones, bit for bit; a new head is added for the label count.
                using var imported = MLNetResNet18Importer.Import(ModelPath);
                using var network = second.CreateNetwork(numClasses: 5, seed: 1);
                var state = network.state_dict();
                CollectionAssert.AreEqual(new long[] { 5, 512 }, state["fc.weight"].shape);
                foreach (var (key, tensor) in imported.StateDict)
                {
                    using var same = tensor.eq(state[key]).all();
                    Assert.IsTrue(same.item<bool>(), key);
                }
            }
            finally
            {
                Environment.SetEnvironmentVariable("FREEZING_HOME", oldHome);
                if (Directory.Exists(home))
                    Directory.Delete(home, recursive: true);
            }
        }

        [TestMethod]
        public void MissingModelNamesThePackage()
        {
            string bogus = Path.Combine(Path.GetTempPath(), "no-such-folder-" + Guid.NewGuid().ToString("N"),
                "ResNet18.onnx");
            var explicitPath = Assert.ThrowsExactly<FileNotFoundException>(
                () => PretrainedWeights.MLNetResNet18(bogus));
            StringAssert.Contains(explicitPath.Message, bogus);
            StringAssert.Contains(explicitPath.Message,
                "dotnet add package Microsoft.ML.DnnImageFeaturizer.ResNet18 --version 0.23.1");

            string empty = Directory.CreateTempSubdirectory("freezing-mlnet-empty-").FullName;
            try
            {
                var nowhere = Assert.ThrowsExactly<FileNotFoundException>(
                    () => MLNetResNet18Importer.Locate(new[] { empty }));
                StringAssert.Contains(nowhere.Message, empty);
                StringAssert.Contains(nowhere.Message,
                    "dotnet add package Microsoft.ML.DnnImageFeaturizer.ResNet18 --version 0.23.1");
                Assert.ThrowsExactly<FileNotFoundException>(() => PretrainedWeights.MLNetResNet18(empty));
            }
            finally
            {
                Directory.Delete(empty, recursive: true);
            }
        }

        [TestMethod]
        public void LocateKnowsTheOutputAndNuGetLayouts()
        {
            string root = Directory.CreateTempSubdirectory("freezing-mlnet-layouts-").FullName;
            try
            {
                string Touch(params string[] parts)
                {
                    string path = Path.Combine(new[] { root }.Concat(parts).ToArray());
                    Directory.CreateDirectory(Path.GetDirectoryName(path));
                    File.WriteAllBytes(path, Array.Empty<byte>());
                    return path;
                }
                string app = Touch("app", "DnnImageModels", "ResNet18Onnx", "ResNet18.onnx");
                string pkg = Path.Combine("microsoft.ml.dnnimagefeaturizer.resnet18");
                string tail = Path.Combine("tools", "DnnImageModels", "ResNet18Onnx", "ResNet18.onnx");
                Touch("nuget", pkg, "0.9.0", tail);
                Touch("nuget", pkg, "0.30.0", tail);
                string pinned = Touch("nuget", pkg, "0.23.1", tail);
                Touch("newer-only", pkg, "0.9.0", tail);
                string newest = Touch("newer-only", pkg, "0.10.0", tail);

                Assert.AreEqual(app,
                    MLNetResNet18Importer.Locate(
                    new[] { Path.Combine(root, "none"), Path.Combine(root, "app"), Path.Combine(root, "nuget") }));
                Assert.AreEqual(app,
                    MLNetResNet18Importer.Locate(new[] { Path.Combine(root, "app", "DnnImageModels") }),
                    "ML.NET's modelDir");
                Assert.AreEqual(pinned, MLNetResNet18Importer.Locate(new[] { Path.Combine(root, "nuget") }),
                    "the checked version first");
                Assert.AreEqual(newest, MLNetResNet18Importer.Locate(new[] { Path.Combine(root, "newer-only") }),
                    "else the newest");
                Assert.AreEqual(app, MLNetResNet18Importer.Resolve(Path.Combine(root, "app")),
                    "a folder given as the path is searched");
            }
            finally
            {
                Directory.Delete(root, recursive: true);
            }
        }

        [TestMethod]
        public void AFileThatIsNotTheOnnxResNetIsInvalidData()
        {
            string path = Path.Combine(Path.GetTempPath(),
                "freezing-not-onnx-" + Guid.NewGuid().ToString("N") + ".onnx");
            try
            {
                File.WriteAllText(path, "this is not a protobuf");
                Assert.ThrowsExactly<InvalidDataException>(() => MLNetResNet18Importer.Import(path));
                // A real ONNX model that is not a ResNet: the preprocessing graph.
                var ex = Assert.ThrowsExactly<InvalidDataException>(() => MLNetResNet18Importer.Import(PreprocessPath));
                StringAssert.Contains(ex.Message, "not a ResNet");
            }
            finally
            {
                File.Delete(path);
            }
        }

        private static float[] RunOnnx(InferenceSession session, Tensor input)
        {
            var data = input.contiguous().data<float>().ToArray();
            var feed =
                new[] { NamedOnnxValue.CreateFromTensor(OnnxInput,
                new OrtFloatTensor(data, new[] { 1, 3, 224, 224 })) };
            using var results = session.Run(feed);
            var output = results.Single(r => r.Name == OnnxOutput).AsTensor<float>();
            CollectionAssert.AreEqual(new[] { 1, 512, 1, 1 }, output.Dimensions.ToArray());
            return output.ToArray();
        }

        /// <summary>Decoded, resized and normalised the way training and prediction do it: [1, 3, 224, 224].</summary>
        private static Tensor Preprocessed(byte[] encoded, ImagePreprocessing preprocessing)
        {
            byte[] rgb = preprocessing.DecodeAndResize(encoded);
            using var bytes = tensor(rgb, new long[] { 1, preprocessing.ImageSize, preprocessing.ImageSize, 3 },
                ScalarType.Byte);
            return preprocessing.Normalize(bytes);
        }

        /// <summary>A 320x240 JPEG with smooth gradients, a disc and stripes: photo-like statistics without a photo
        /// file.</summary>
        private static byte[] SyntheticPhoto()
            => TestImages.Encode(320, 240, (x, y) =>
            {
                double disc = Math.Sqrt((x - 200) * (x - 200) + (y - 110) * (y - 110));
                if (disc < 60)
                    return new SKColor((byte)(200 - disc), (byte)(120 + disc), 40);
                if ((x / 12 + y / 30) % 5 == 0)
                    return new SKColor(30, 30, (byte)(90 + y / 3));
                return new SKColor((byte)(x * 255 / 320), (byte)(y * 255 / 240), (byte)((x + y) % 256));
            }, SKEncodedImageFormat.Jpeg);
    }
}

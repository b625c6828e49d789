// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.ML.Data;
using Microsoft.ML.Freezing.Tests.Reliability;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests.MLNet
{
    /// <summary>
    /// A loaded model scores with ONNX Runtime from its saved weights and builds its TorchSharp network only when
    /// something needs it (once, on whichever thread asks first); a process that serves with the default engine never
    /// maps libtorch.
    /// </summary>
    [TestClass]
    public sealed class LazyNetworkTests
    {
        /// <summary>The prediction (the tiny model's pipeline keeps the label a key).</summary>
        private sealed class ScoreOnly
        {
            public float[] Score { get; set; }
        }

        private static FrozenResNetTransformer Transformer(ITransformer loaded)
            => ((TransformerChain<ITransformer>)loaded).OfType<FrozenResNetTransformer>().Single();

        private static float[][] Scores(ITransformer model, IDataView data)
            => model.Transform(data).GetColumn<float[]>("Score").ToArray();

        private static void AssertClose(float[] expected, float[] actual, double tolerance, string what)
        {
            Assert.HasCount(expected.Length, actual, what);
            for (int k = 0; k < expected.Length; k++)
                Assert.AreEqual(expected[k], actual[k], tolerance, $"{what}, class {k}");
        }

        [TestMethod]
        public void ALoadedModelScoresWithoutItsNetworkAndBuildsItOnceWhenAsked()
        {
            var ml = new MLContext(seed: 1);
            var loaded = ml.Model.Load(TinyModel.Zip, out var schema);
            try
            {
                var transformer = Transformer(loaded);
                var runner = transformer.Runner;
                var rows = GeneratedImages.Stripes(6, seed: 3);
                var data = ml.Data.LoadFromEnumerable(rows);
                var engine = ml.Model.CreatePredictionEngine<ModelInput, ScoreOnly>(loaded);
                var predicted = engine.Predict(rows[0]).Score;
                var onnx = Scores(loaded, data);
                transformer.ExportOnnx(Path.Combine(TinyModel.Folder, "lazy.onnx"));
                Assert.AreEqual(InferenceEngine.OnnxRuntime, transformer.Engine);
                Assert.IsFalse(runner.HasNetwork, "ONNX Runtime scored and exported without the module");
                AssertClose(onnx[0], predicted, 1e-5, "one image against a batch");

                var networks = new ResNet[8];
                Parallel.For(0, networks.Length, i => networks[i] = transformer.Network);
                Assert.IsTrue(networks.All(n => ReferenceEquals(n, networks[0])), "built once");
                Assert.AreSame(networks[0], transformer.Model.Network);
                Assert.IsFalse(networks[0].training, "eval mode");
                Assert.AreEqual(transformer.Model.Definition, networks[0].Definition);

                // The module's ONNX graph is the saved weights' graph (up to the threads' summation order).
                transformer.Engine = InferenceEngine.OnnxRuntime;
                var fromModule = Scores(loaded, data);
                transformer.Engine = InferenceEngine.TorchSharp;
                var torch = Scores(loaded, data);
                for (int i = 0; i < onnx.Length; i++)
                {
                    AssertClose(onnx[i], fromModule[i], 1e-6, $"row {i}, ONNX Runtime on the module");
                    AssertClose(onnx[i], torch[i], 1e-4, $"row {i}, TorchSharp");
                }
            }
            finally
            {
                (loaded as IDisposable)?.Dispose();
            }
        }

        [TestMethod]
        public void TheTorchSharpEngineAndSavingAgainBuildTheNetwork()
        {
            var ml = new MLContext(seed: 1);
            var loaded = ml.Model.Load(TinyModel.Zip, out var schema);
            string copy = Path.Combine(TinyModel.Folder, "lazy-resaved.zip");
            try
            {
                var transformer = Transformer(loaded);
                var data = ml.Data.LoadFromEnumerable(GeneratedImages.Stripes(4, seed: 4));
                transformer.Engine = InferenceEngine.TorchSharp;
                var torch = Scores(loaded, data);
                Assert.IsTrue(transformer.Runner.HasNetwork);

                ml.Model.Save(loaded, schema, copy);
                var again = ml.Model.Load(copy, out _);
                try
                {
                    Transformer(again).Engine = InferenceEngine.TorchSharp;
                    var reloaded = Scores(again, data);
                    for (int i = 0; i < torch.Length; i++)
                        CollectionAssert.AreEqual(torch[i], reloaded[i], $"row {i}");
                }
                finally
                {
                    (again as IDisposable)?.Dispose();
                }
            }
            finally
            {
                (loaded as IDisposable)?.Dispose();
            }
        }

        [TestMethod]
        public void AServingProcessMapsLibTorchOnlyWhenItReadsTheNetwork()
        {
            string images = Path.Combine(TinyModel.Folder, "lazy-serving");
            Directory.CreateDirectory(images);
            var rows = GeneratedImages.Stripes(5, seed: 12);
            for (int i = 0; i < rows.Count; i++)
                File.WriteAllBytes(Path.Combine(images, $"{i:00}.png"), rows[i].ImageSource);

            var (exitCode, output) = LoadCheckProcess.Run(TinyModel.Zip, "--serve", images);
            Assert.AreEqual(0, exitCode, output);
            StringAssert.Contains(output, "transformed 5 rows");
            StringAssert.Contains(output, "libtorch mapped: False");

            (exitCode, output) = LoadCheckProcess.Run(TinyModel.Zip, "--serve", images, "--read-network");
            Assert.AreEqual(0, exitCode, output);
            StringAssert.Contains(output, "network: ResNet");
            StringAssert.Contains(output, "libtorch mapped: True");
        }
    }
}

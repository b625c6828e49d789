// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
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
    /// FAILED"), a weight snapshot's clone (SIGSEGV); and the Keras importer's permuted kernels (SIGSEGV in
    /// <c>contiguous()</c>).
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
                    FrozenPrefixPrecision = InferencePrecision.BFloat16,
                    LearningRateSchedule = LearningRateSchedule.Cosine,
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
            CollectingThread.Hammer(() =>
            {
                string setup = setups[round++ % setups.Length];
                CollectionAssert.AreEqual(expected[setup], TrainEngine(setup), $"{setup}, run {round}");
            }, Duration, atLeast: setups.Length);
        }

        // Scores of a trained pipeline (Transform, after a save and load, and a PredictionEngine) and a featurizer's
        // features, concatenated.
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
            var scores = model.Transform(data).GetColumn<float[]>("Score").SelectMany(s => s).ToArray();
            using var zip = new MemoryStream();
            ml.Model.Save(model, data.Schema, zip);
            zip.Position = 0;
            var loaded = ml.Model.Load(zip, out _);
            var reloaded = loaded.Transform(data).GetColumn<float[]>("Score").SelectMany(s => s).ToArray();
            (loaded as IDisposable)?.Dispose();
            using var engine = TinyModel.Engine(ml, model);
            var one = engine.Predict(rows[0]).Score;
            using var featurizer = ml.Transforms.ResNetFeatures("Features", "ImageSource", TinyModel.Weights,
                ResNetStage.Layer2).Fit(data);
            var features = featurizer.Transform(data).GetColumn<float[]>("Features").SelectMany(f => f);
            return scores.Concat(reloaded).Concat(one).Concat(features).ToArray();
        }

        private static string Sha256(IEnumerable<(string Name, Tensor Tensor)> tensors)
        {
            using var bytes = new MemoryStream();
            using (var writer = new BinaryWriter(bytes, System.Text.Encoding.UTF8, leaveOpen: true))
                TensorDictionaryFormat.Write(writer, tensors);
            return Convert.ToHexString(SHA256.HashData(bytes.ToArray()));
        }

        private static string Sha256(IReadOnlyDictionary<string, Tensor> state)
            => Sha256(state.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (kv.Key, kv.Value)));

        // What each importer converts (through the checkpoints' tensor writer), and the ONNX file of ML.NET's network.
        private static string[] ImportAndExport(string keras, string torchvision, string folder)
        {
            var hashes = new List<string>();
            using (var mlnet = MLNetResNet18Importer.Import(MLNetResNet18Importer.Resolve(null)))
                hashes.Add(Sha256(mlnet.StateDict));
            var weights = PretrainedWeights.MLNetResNet18(); // read back from the weight cache
            using (var network = weights.CreateNetwork(3, seed: 2))
            {
                string onnx = Path.Combine(folder, "mlnet.onnx");
                OnnxExporter.Export(network, weights.Preprocessing, onnx);
                hashes.Add(Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(onnx))));
            }
            using (var converted = KerasResNetImporter.Convert(keras))
                hashes.Add(Sha256(converted.StateDict));
            var state = PyTorchStateDict.Read(torchvision);
            hashes.Add(Sha256(state));
            foreach (var tensor in state.Values) tensor.Dispose();
            return hashes.ToArray();
        }

        [TestMethod]
        public void ImportsAndExportUnderACollectingThreadWriteTheBytesOfRunsWithout()
        {
            string keras = Assets.Require(PretrainedWeights.KerasResNet50ModelPath, "run eng/fetch-keras-resnet50.sh");
            string torchvision = Assets.Require(Path.Combine(Assets.Folder("torchvision"), "resnet18.pth"),
                "run eng/torchvision-references.sh");
            string folder = Path.Combine(Path.GetTempPath(), "collector-imports-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(folder);
            try
            {
                var expected = ImportAndExport(keras, torchvision, folder);
                int round = 0;
                CollectingThread.Hammer(() => CollectionAssert.AreEqual(expected,
                    ImportAndExport(keras, torchvision, folder), $"run {++round}"), Duration, atLeast: 2);
            }
            finally
            {
                Directory.Delete(folder, recursive: true);
            }
        }

        [TestMethod]
        public void TrainerAndScoringUnderACollectingThreadEqualRunsWithout()
        {
            var rows = GeneratedImages.Stripes(64, seed: 21);
            var expected = TrainAndScore(rows);
            int round = 0;
            CollectingThread.Hammer(
                () => CollectionAssert.AreEqual(expected, TrainAndScore(rows), $"run {++round}"), Duration, atLeast: 2);
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Freezing.Tests.MLNet;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests.Featurizer
{
    /// <summary>
    /// <c>mlContext.Transforms.ResNetFeatures</c>: ML.NET's pretrained ResNet-18 (from the test project's
    /// Microsoft.ML.DnnImageFeaturizer.ResNet18 package) as a featurizer under <c>LbfgsMaximumEntropy</c> on the
    /// generated stripes task, schema propagation, save/load in the zip, batched against row-by-row, and errors.
    /// </summary>
    [TestClass]
    public sealed class FeaturizerTests
    {
        private const int Side = 32;
        private static MLContext _ml;
        private static IDataView _train;
        private static IDataView _test;
        private static ITransformer _model;

        private static IEstimator<ITransformer> Pipeline(MLContext ml)
            => ml.Transforms.Conversion.MapValueToKey("Label", "Label")
                .Append(
                ml.Transforms.ResNetFeatures("Features", "ImageSource", PretrainedWeights.MLNetResNet18(),
                imageSize: Side))
                .Append(ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy("Label", "Features"))
                .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel", "PredictedLabel"));

        [ClassInitialize]
        public static void FitOnce(TestContext _)
        {
            _ml = new MLContext(seed: 1);
            _train = _ml.Data.LoadFromEnumerable(GeneratedImages.Stripes(200, seed: 11));
            _test = _ml.Data.LoadFromEnumerable(GeneratedImages.Stripes(100, seed: 12));
            var watch = Stopwatch.StartNew();
            _model = Pipeline(_ml).Fit(_train);
            Console.WriteLine($"fit: {watch.Elapsed.TotalSeconds:F1} s");
        }

        [ClassCleanup]
        public static void Release() => (_model as IDisposable)?.Dispose();

        private static ResNetFeaturizerTransformer Featurizer(ITransformer chain)
            => ((IEnumerable<ITransformer>)chain).OfType<ResNetFeaturizerTransformer>().Single();

        [TestMethod]
        public void LbfgsMaximumEntropyOnResNetFeaturesLearnsTheStripesTask()
        {
            var watch = Stopwatch.StartNew();
            var metrics = _ml.MulticlassClassification.Evaluate(_model.Transform(_test));
            Console.WriteLine(
                $"held out: micro accuracy {metrics.MicroAccuracy:P1}, log-loss {metrics.LogLoss:F3} " +
                $"({watch.Elapsed.TotalSeconds:F1} s)");
            Assert.IsTrue(metrics.MicroAccuracy >= 0.9, $"held-out micro-accuracy {metrics.MicroAccuracy:P1}");
        }

        [TestMethod]
        public void OutputIsAKnownSizeFloatVectorForEachStage()
        {
            var featurizer = Featurizer(_model);
            Assert.AreEqual(ResNetStage.Layer4, featurizer.Stage, "the default stage");
            Assert.AreEqual(512, featurizer.FeatureDimension);
            var keyed = ((IEnumerable<ITransformer>)_model).First().Transform(_test);
            var vector512 = new VectorDataViewType(NumberDataViewType.Single, 512);
            Assert.AreEqual(vector512, featurizer.Transform(keyed).Schema["Features"].Type);
            Assert.AreEqual(vector512, featurizer.GetOutputSchema(keyed.Schema)["Features"].Type);
            Assert.AreEqual(vector512, _model.GetOutputSchema(_train.Schema)["Features"].Type,
                "through the whole chain");

            // Another stage, through the Options overload; the image column is read under another name.
            var rows = _ml.Data.LoadFromEnumerable(GeneratedImages.Stripes(3, seed: 14));
            var estimator = _ml.Transforms.ResNetFeatures(new ResNetFeaturizerEstimator.Options
            {
                OutputColumnName = "Layer2", InputColumnName = "ImageSource",
                Weights = PretrainedWeights.MLNetResNet18(),
                Stage = ResNetStage.Layer2, ImageSize = Side, BatchSize = 2,
            });
            Assert.AreEqual(128, estimator.FeatureDimension);
            using var layer2 = estimator.Fit(rows);
            var features = layer2.Transform(rows).GetColumn<float[]>("Layer2").ToArray();
            Assert.AreEqual(3, features.Length, "a batch of 2 and a batch of 1");
            Assert.IsTrue(features.All(f => f.Length == 128 && f.Any(v => v != 0)));
            Assert.AreNotEqual(features[0][0], features[1][0], "different images, different features");
        }

        [TestMethod]
        public void SavedPipelineLoadsWithIdenticalFeaturesAndPredictions()
        {
            string zip = Path.Combine(Path.GetTempPath(), "resnet-featurizer-" + Guid.NewGuid().ToString("N") + ".zip");
            try
            {
                _ml.Model.Save(_model, _train.Schema, zip);
                Console.WriteLine($"zip: {new FileInfo(zip).Length / 1e6:F1} MB");
                var loaded = _ml.Model.Load(zip, out var inputSchema);
                try
                {
                    Assert.AreEqual(_train.Schema.Count, inputSchema.Count);
                    var loadedFeaturizer = Featurizer(loaded);
                    Assert.AreEqual(Featurizer(_model).Preprocessing, loadedFeaturizer.Preprocessing);
                    Assert.AreEqual(ResNetStage.Layer4, loadedFeaturizer.Stage);
                    Assert.AreEqual("ImageSource", loadedFeaturizer.InputColumnName);

                    var expected = _model.Transform(_test);
                    var actual = loaded.Transform(_test);
                    var expectedFeatures = expected.GetColumn<float[]>("Features").ToArray();
                    var actualFeatures = actual.GetColumn<float[]>("Features").ToArray();
                    Assert.AreEqual(100, actualFeatures.Length);
                    for (int i = 0; i < expectedFeatures.Length; i++)
                        CollectionAssert.AreEqual(expectedFeatures[i], actualFeatures[i], $"row {i}");
                    CollectionAssert.AreEqual(expected.GetColumn<string>("PredictedLabel").ToArray(),
                        actual.GetColumn<string>("PredictedLabel").ToArray());
                }
                finally
                {
                    (loaded as IDisposable)?.Dispose();
                }
            }
            finally
            {
                File.Delete(zip);
            }
        }

        [TestMethod]
        public void BatchedTransformAgreesWithPredictionEngine()
        {
            var rows = GeneratedImages.Stripes(5, seed: 13);
            var featurizer = Featurizer(_model);
            var batched = featurizer.Transform(_ml.Data.LoadFromEnumerable(rows)).GetColumn<float[]>("Features")
                .ToArray();
            using var engine = _ml.Model.CreatePredictionEngine<ModelInput, FeatureRow>(featurizer,
                new PredictionEngineOptions { OwnsTransformer = false });
            for (int i = 0; i < rows.Count; i++)
            {
                var single = engine.Predict(rows[i]).Features;
                Assert.AreEqual(512, single.Length);
                double diff = single.Zip(batched[i], (a, b) => Math.Abs(a - b)).Max() / batched[i].Max(Math.Abs);
                Assert.IsTrue(diff <= ScoreComparison.Relative,
                    $"row {i}: features differ by {diff:G3} of their range between one image and a batch of five");
            }
        }

        [TestMethod]
        public void ReadAheadKeepsRowOrderAcrossBatchesAndACorruptImageNamesItsRow()
        {
            var featurizer = Featurizer(_model);
            int batch = featurizer.BatchSize;
            var rows = GeneratedImages.Stripes(2 * batch + 6, seed: 14);
            var batched = featurizer.Transform(_ml.Data.LoadFromEnumerable(rows)).GetColumn<float[]>("Features")
                .ToArray();
            using (var engine = _ml.Model.CreatePredictionEngine<ModelInput, FeatureRow>(featurizer,
                new PredictionEngineOptions { OwnsTransformer = false }))
            {
                // Rows that different reader threads decode, in the first, second and last batch.
                foreach (int i in new[] { 0, 1, batch, batch + 1, rows.Count - 1 })
                {
                    double diff = engine.Predict(rows[i]).Features.Zip(batched[i], (a, b) => Math.Abs(a - b)).Max()
                        / batched[i].Max(Math.Abs);
                    Assert.IsTrue(diff <= ScoreComparison.Relative,
                        $"row {i}: features differ by {diff:G3} of their range: read-ahead served another row's " +
                        "features");
                }
            }

            rows[batch + 3].ImageSource = new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
            var view = featurizer.Transform(_ml.Data.LoadFromEnumerable(rows));
            using var cursor = view.GetRowCursor(new[] { view.Schema["Features"] });
            int served = 0;
            var error = Assert.ThrowsExactly<InvalidImageException>(() =>
            {
                while (cursor.MoveNext())
                    served++;
            });
            StringAssert.Contains(error.Message, $"Column 'ImageSource', row {batch + 3}");
            Assert.AreEqual(batch, served, "the first batch is served before the second one fails");
        }

        [TestMethod]
        public void MisuseGivesClearErrors()
        {
            var weights = PretrainedWeights.MLNetResNet18();
            Assert.Throws<ArgumentOutOfRangeException>(
                () => _ml.Transforms.ResNetFeatures("Features", "ImageSource", weights, ResNetStage.Head));
            // Without weights the featurizer takes ML.NET's ResNet-18; PretrainedWeights.None has no network to use.
            var none = new ResNetFeaturizerEstimator.Options { Weights = PretrainedWeights.None };
            Assert.Throws<ArgumentOutOfRangeException>(() => _ml.Transforms.ResNetFeatures(none));
            var error = Assert.Throws<Exception>(
                () => _ml.Transforms.ResNetFeatures("Features", "Label", weights).Fit(_train));
            StringAssert.Contains(error.Message, "Label");
            Assert.Throws<Exception>(() => _ml.Transforms.ResNetFeatures("Features", "Missing", weights).Fit(_train));
        }

        private sealed class FeatureRow
        {
            [VectorType(512)]
            public float[] Features { get; set; }
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;
using System.IO.Compression;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests.MLNet
{
    /// <summary>The saved model is read strictly; MLImage input works like encoded bytes.</summary>
    [TestClass]
    public sealed class ModelFileTests
    {
        private static readonly MLContext Ml = new MLContext(seed: 1);
        private static string _dir;
        private static string _zip;
        private static string _otherShapeZip;

        private static FrozenResNetTrainer.Options Options(string feature, int epochs = 1)
            => new FrozenResNetTrainer.Options
        {
            FeatureColumnName = feature, ImageSize = 32, Epochs = epochs, BatchSize = 8,
            Architecture = ResNetArchitecture.ResNet18, Seed = 1,
            PretrainedWeights = PretrainedWeights.None, ValidationFraction = 0,
        };

        [ClassInitialize]
        public static void SaveTwoModels(TestContext _)
        {
            _dir = Path.Combine(Path.GetTempPath(), "frozen-resnet-files-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(_dir);
            var data = Ml.Data.LoadFromEnumerable(GeneratedImages.Stripes(16, 1));
            var pipeline = Ml.Transforms.Conversion.MapValueToKey("Label")
                .Append(Ml.MulticlassClassification.Trainers.FrozenResNet(Options("ImageSource")));
            using (var model = pipeline.Fit(data))
                Ml.Model.Save(model, data.Schema, _zip = Path.Combine(_dir, "model.zip"));
            var three = GeneratedImages.Stripes(15, 1)
                .Select((r, i) => new ModelInput { ImageSource = r.ImageSource, Label = "c" + (i % 3) });
            var threeData = Ml.Data.LoadFromEnumerable(three);
            using (var model = pipeline.Fit(threeData))
                Ml.Model.Save(model, threeData.Schema, _otherShapeZip = Path.Combine(_dir, "three.zip"));
        }

        [ClassCleanup]
        public static void Cleanup() => Directory.Delete(_dir, recursive: true);

        private static string Rewrite(string name, Func<byte[], byte[]> change)
            => ModelZips.Rewrite(_zip, _dir, name, change);

        private static byte[] Entry(string zip, string name) => ModelZips.Entry(zip, name);

        private static string LoadError(string zip) => ModelZips.LoadError(Ml, zip);

        [TestMethod]
        public void IntactModelLoads()
        {
            var model = Ml.Model.Load(_zip, out var schema);
            Assert.IsNotNull(schema.GetColumnOrNull("ImageSource"));
            (model as IDisposable)?.Dispose();
        }

        [TestMethod]
        public void MissingStreamIsNamed()
        {
            string message = LoadError(Rewrite("Weights", _ => null));
            StringAssert.Contains(message, "stream 'Weights' (network weights) is missing");
        }

        [TestMethod]
        public void TruncatedStreamIsNamed()
        {
            StringAssert.Contains(LoadError(Rewrite("Weights", b => b.Take(b.Length / 2).ToArray())),
                "stream 'Weights' (network weights) is truncated or malformed");
            StringAssert.Contains(LoadError(Rewrite("Preprocessing", b => b.Take(7).ToArray())),
                "stream 'Preprocessing' (preprocessing) is truncated or malformed");
            StringAssert.Contains(LoadError(Rewrite("History", b => b.Take(b.Length - 3).ToArray())),
                "stream 'History' (training history)");
        }

        [TestMethod]
        public void MisShapedWeightsAreNamed()
        {
            var otherWeights = Entry(_otherShapeZip, "Weights");
            string message = LoadError(Rewrite("Weights", _ => otherWeights));
            StringAssert.Contains(message, "stream 'Weights' (network weights)");
        }

        [TestMethod]
        public void MLImageColumnTrainsAndScoresLikeBytes()
        {
            string images = Path.Combine(_dir, "images");
            Directory.CreateDirectory(images);
            var rows = GeneratedImages.Stripes(12, 4);
            var files = rows.Select((r, i) => new { ImagePath = $"{i:00}.png", r.Label }).ToList();
            foreach (var (file, row) in files.Zip(rows))
                File.WriteAllBytes(Path.Combine(images, file.ImagePath), row.ImageSource);
            var data = Ml.Data.LoadFromEnumerable(files);
            var pipeline = Ml.Transforms.Conversion.MapValueToKey("Label")
                .Append(Ml.Transforms.LoadImages("Image", images, "ImagePath"))
                .Append(Ml.MulticlassClassification.Trainers.FrozenResNet(Options("Image")));
            using var model = pipeline.Fit(data);
            var scores = model.Transform(data).GetColumn<float[]>("Score").ToArray();
            Assert.AreEqual(12, scores.Length);
            Assert.IsTrue(scores.All(s => s.Length == 2 && Math.Abs(s.Sum() - 1) < 1e-4));

            // The same pixels through the bytes path give the same scores.
            var trained = model.OfType<FrozenResNetTransformer>().Single();
            var viaBytes = trained.Model.Score(
                rows.Select(r => trained.Model.Preprocessing.DecodeAndResize(r.ImageSource)).ToList());
            ScoreComparison.AssertSameScores(viaBytes, scores, "bytes path vs MLImage path");
        }
    }
}

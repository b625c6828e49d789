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

namespace Microsoft.ML.Freezing.Tests.Export
{
    /// <summary>
    /// <see cref="FrozenResNetTransformer.ExportOnnx"/> and <see cref="ResNetFeaturizerTransformer.ExportOnnx"/> on a
    /// briefly fine-tuned model (<see cref="StripesModel"/>): ONNX Runtime reproduces the trainer's scores and the
    /// featurizer's features for batches of 1 and 3, and ML.NET's <c>ApplyOnnxModel</c> predicts the same labels as the
    /// trainer's model.
    /// </summary>
    [TestClass]
    public sealed class ModelExportTests
    {
        private const int Side = StripesModel.Side;
        private static string _dir;
        private static List<ModelInput> _rows;

        [ClassInitialize]
        public static void Prepare(TestContext _)
        {
            _dir = Path.Combine(Path.GetTempPath(), "freezing-export-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(_dir);
            _rows = GeneratedImages.Stripes(40, seed: 41, size: Side);
        }

        [ClassCleanup]
        public static void DeleteFolder() => Directory.Delete(_dir, recursive: true);

        [TestMethod]
        [TestCategory(Categories.Numerical)]
        public void ExportedModelMatchesTheTrainersScoresInOnnxRuntimeAtBatchSizes1And3()
        {
            var ml = StripesModel.Ml;
            var transformer = StripesModel.Transformer;
            string path = Path.Combine(_dir, "stripes.onnx");
            var watch = Stopwatch.StartNew();
            transformer.ExportOnnx(path);
            Console.WriteLine($"export: {watch.Elapsed.TotalSeconds:F2} s, {new FileInfo(path).Length / 1e6:F1} MB");

            var subset = _rows.Take(4).ToList();
            var expected = StripesModel.Pipeline.Transform(ml.Data.LoadFromEnumerable(subset))
                .GetColumn<float[]>("Score").ToArray();
            var pixels = subset.Select(r => transformer.Model.Preprocessing.DecodeAndResize(r.ImageSource)).ToList();
            using var session = OnnxExporterTests.Session(path);
            double worst = 0;
            foreach (var (start, batch) in new[] { (0, 1), (1, 3) })
            {
                var input = OnnxExporterTests.Nchw(pixels.Skip(start).Take(batch).SelectMany(p => p).ToArray(), batch);
                var actual = OnnxExporterTests.Run(session, "Pixels", "Score", input, new[] { batch, 3, Side, Side },
                    out var shape);
                CollectionAssert.AreEqual(new[] { batch, 2 }, shape);
                var rows = Enumerable.Range(0, batch).Select(r => actual.Skip(r * 2).Take(2).ToArray()).ToList();
                double diff = ScoreComparison.AssertSameScores(expected.Skip(start).Take(batch).ToList(), rows,
                    $"batch {batch}: ONNX Runtime vs the trainer's Score");
                worst = Math.Max(worst, diff);
            }
            Console.WriteLine("scores: " + string.Join(" ", expected.Select(s => s[0].ToString("F4"))));
            Assert.IsTrue(expected.Select(s => s[0]).Distinct().Count() > 1, "scores should differ across rows");
            Console.WriteLine($"ONNX export parity (FrozenResNet scores): logits differ by {worst:G3} of their range");
        }

        [TestMethod]
        [TestCategory(Categories.Numerical)]
        public void ApplyOnnxModelPipelinePredictsTheTrainersLabels()
        {
            var ml = StripesModel.Ml;
            var transformer = StripesModel.Transformer;
            string path = Path.Combine(_dir, "stripes-mlnet.onnx");
            transformer.ExportOnnx(path);

            // Image files read, decoded and sized by ML.NET's own image transforms; no TorchSharp in this pipeline.
            string folder = Path.Combine(_dir, "images");
            Directory.CreateDirectory(folder);
            for (int i = 0; i < _rows.Count; i++)
                File.WriteAllBytes(Path.Combine(folder, $"{i:00}.png"), _rows[i].ImageSource);
            var files = ml.Data.LoadFromEnumerable(
                Enumerable.Range(0, _rows.Count).Select(i => new ImageFile { ImagePath = $"{i:00}.png" }));
            // The graph's input and output names are ML.NET column names: "Pixels" (ExtractPixels' planar RGB 0-255)
            // in, "Score" out, so ApplyOnnxModel needs only the file.
            var onnxPipeline = ml.Transforms.LoadImages("Image", folder, nameof(ImageFile.ImagePath))
                .Append(ml.Transforms.ResizeImages("Image", Side, Side))
                .Append(ml.Transforms.ExtractPixels("Pixels", "Image"))
                .Append(ml.Transforms.ApplyOnnxModel(path));
            var watch = Stopwatch.StartNew();
            using var onnxModel = (IDisposable)onnxPipeline.Fit(files);
            var onnxScores = ((ITransformer)onnxModel).Transform(files).GetColumn<float[]>("Score").ToArray();
            Console.WriteLine($"ApplyOnnxModel: {_rows.Count} images in {watch.Elapsed.TotalSeconds:F2} s");

            var expected = StripesModel.Pipeline.Transform(ml.Data.LoadFromEnumerable(_rows));
            var expectedLabels = expected.GetColumn<string>("PredictedLabel").ToArray();
            var expectedScores = expected.GetColumn<float[]>("Score").ToArray();
            var classes = transformer.Model.ClassNames;
            var onnxLabels = onnxScores.Select(s => classes[Array.IndexOf(s, s.Max())]).ToArray();
            Console.WriteLine($"ApplyOnnxModel labels {string.Join("", onnxLabels.Select(l => l[0]))}");
            CollectionAssert.AreEqual(expectedLabels, onnxLabels);
            Assert.IsTrue(onnxLabels.Distinct().Count() == 2, "both classes should be predicted");
            ScoreComparison.AssertSameScores(expectedScores, onnxScores, "ApplyOnnxModel vs the trainer");
        }

        [TestMethod]
        public void FeaturizerFromTheFineTunedModelMatchesItsNetworkAndExportsToOnnx()
        {
            var ml = StripesModel.Ml;
            var transformer = StripesModel.Transformer;
            var data = ml.Data.LoadFromEnumerable(_rows.Take(4).ToList());
            using var featurizer = ml.Transforms.ResNetFeatures("Embedding", "ImageSource", transformer).Fit(data);
            Assert.AreEqual(transformer.Model.Preprocessing, featurizer.Preprocessing);
            Assert.AreEqual(0, featurizer.Network.Definition.NumClasses, "the featurizer's network has no head");
            var features = featurizer.Transform(data).GetColumn<float[]>("Embedding").ToArray();

            // The same as the fine-tuned network's own pooled features (which feed its fc).
            var pixels = _rows.Take(4).Select(r => transformer.Model.Preprocessing.DecodeAndResize(r.ImageSource))
                .ToList();
            float[] own;
            using (TorchSharp.torch.NewDisposeScope())
            using (TorchSharp.torch.no_grad())
            {
                var bytes = TorchSharp.torch.tensor(pixels.SelectMany(p => p).ToArray(),
                    new long[] { 4, Side, Side, 3 });
                own = transformer.Model.Network.Features(transformer.Model.Preprocessing.Normalize(bytes)).data<float>()
                    .ToArray();
            }
            double range = own.Max(Math.Abs);
            Assert.IsTrue(
                OnnxExporterTests.MaxAbsDiff(own,
                features.SelectMany(f => f).ToArray()) <= ScoreComparison.Relative * range);

            string path = Path.Combine(_dir, "features.onnx");
            featurizer.ExportOnnx(path, new OnnxExportOptions { InputLayout = OnnxInputLayout.Nhwc });
            using var session = OnnxExporterTests.Session(path);
            foreach (var (start, batch) in new[] { (0, 1), (1, 3) })
            {
                var input = pixels.Skip(start).Take(batch).SelectMany(p => p).Select(b => (float)b).ToArray();
                var actual = OnnxExporterTests.Run(session, "Pixels", "Embedding", input,
                    new[] { batch, Side, Side, 3 }, out var shape);
                CollectionAssert.AreEqual(new[] { batch, 512 }, shape);
                double diff = OnnxExporterTests.MaxAbsDiff(
                    features.Skip(start).Take(batch).SelectMany(f => f).ToArray(), actual);
                Console.WriteLine(
                    $"featurizer, batch {batch}: max abs diff {diff:E2} (largest feature " +
                    $"{features.SelectMany(f => f).Max():F2})");
                Assert.IsTrue(diff <= ScoreComparison.Relative * range,
                    $"batch {batch}: max abs diff {diff:E3} on {range:G3}");
            }
        }
    
        private sealed class ImageFile
        {
            public string ImagePath { get; set; }
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests.MLNet
{
    /// <summary>Transform's batched scoring with a background reader: same scores, same order, errors in
    /// place.</summary>
    [TestClass]
    public sealed class BatchScoringTests
    {
        private static readonly MLContext Ml = new MLContext(seed: 1);
        private static FrozenResNetTransformer _model;

        private sealed class Row
        {
            public int Id { get; set; }
            public byte[] ImageSource { get; set; }
            public string Label { get; set; }
        }

        [ClassInitialize]
        public static void TrainOnce(TestContext _)
        {
            var data = Ml.Data.LoadFromEnumerable(GeneratedImages.Stripes(16, 1));
            var options = new FrozenResNetTrainer.Options
            {
                FeatureColumnName = "ImageSource", ImageSize = 32, Epochs = 1, BatchSize = 8,
                Architecture = ResNetArchitecture.ResNet18, Seed = 1,
                PretrainedWeights = PretrainedWeights.None, ValidationFraction = 0,
            };
            var keyed = Ml.Transforms.Conversion.MapValueToKey("Label").Fit(data).Transform(data);
            _model = Ml.MulticlassClassification.Trainers.FrozenResNet(options).Fit(keyed);
        }

        [ClassCleanup]
        public static void Release() => _model?.Dispose();

        [TestMethod]
        public void TransformThroughITransformerAndAChainIsBatched()
        {
            // A TransformerChain calls ITransformer.Transform: it must reach the batched view, not the row-by-row one.
            var data = Ml.Data.LoadFromEnumerable(Rows(4, seed: 2));
            Assert.IsInstanceOfType<BatchScoringDataView>(((ITransformer)_model).Transform(data));
            var chain = new TransformerChain<ITransformer>(_model);
            Assert.IsInstanceOfType<BatchScoringDataView>(chain.Transform(data));

            using var featurizer = Ml.Transforms.ResNetFeatures("Features", "ImageSource", _model, ResNetStage.Layer1)
                .Fit(data);
            Assert.IsInstanceOfType<ResNetFeaturizerDataView>(((ITransformer)featurizer).Transform(data));
        }

        private static List<Row> Rows(int count, int seed)
            => GeneratedImages.Stripes(count, seed)
                .Select((r, i) => new Row { Id = i, ImageSource = r.ImageSource, Label = r.Label }).ToList();

        private static (int[] Ids, float[][] Scores) ReadAll(IDataView scored)
        {
            var ids = new List<int>();
            var scores = new List<float[]>();
            using var cursor = scored.GetRowCursor(new[] { scored.Schema["Id"], scored.Schema["Score"] });
            var getId = cursor.GetGetter<int>(scored.Schema["Id"]);
            var getScore = cursor.GetGetter<VBuffer<float>>(scored.Schema["Score"]);
            int id = 0;
            VBuffer<float> score = default;
            while (cursor.MoveNext())
            {
                getId(ref id);
                getScore(ref score);
                ids.Add(id);
                scores.Add(score.DenseValues().ToArray());
            }
            return (ids.ToArray(), scores.ToArray());
        }

        [TestMethod]
        public void PrefetchedBatchesGiveIdenticalScoresInInputOrder()
        {
            // 72 rows: batches of 32, 32 and 8, with the reader up to two batches ahead.
            var rows = Rows(72, seed: 4);
            var scored = _model.Transform(Ml.Data.LoadFromEnumerable(rows));
            var (ids, scores) = ReadAll(scored);
            CollectionAssert.AreEqual(Enumerable.Range(0, 72).ToArray(), ids);

            // The same batches scored directly, one call each, in input order (each at least FoldingBatchSize, so
            // folded too).
            var pixels = rows.Select(r => _model.Model.Preprocessing.DecodeAndResize(r.ImageSource)).ToList();
            var expected = pixels.Chunk(32).SelectMany(chunk => _model.Model.Score(chunk)).ToArray();
            for (int i = 0; i < rows.Count; i++)
                CollectionAssert.AreEqual(expected[i], scores[i], $"row {i}: scores differ (not bit-identical)");
            Assert.IsTrue(scores.Select(s => s[0]).Distinct().Count() > 1, "scores should differ across rows");

            // A second pass over the same view gives the same again.
            var (_, again) = ReadAll(scored);
            for (int i = 0; i < rows.Count; i++)
                CollectionAssert.AreEqual(scores[i], again[i], $"row {i}, second pass");
        }

        [TestMethod]
        public void AbandonedCursorStopsItsReader()
        {
            var rows = Rows(200, seed: 5);
            var scored = _model.Transform(Ml.Data.LoadFromEnumerable(rows));
            var clock = Stopwatch.StartNew();
            using (var cursor = scored.GetRowCursor(new[] { scored.Schema["Score"] }))
            {
                for (int i = 0; i < 3; i++)
                    Assert.IsTrue(cursor.MoveNext());
            }
            // Disposing waits for the reader, which stops within an image; it must not hang on its full queue.
            Assert.IsTrue(clock.Elapsed < TimeSpan.FromMinutes(1), $"took {clock.Elapsed}");
            var (ids, _) = ReadAll(scored);
            Assert.AreEqual(200, ids.Length);
        }

        [TestMethod]
        public void CorruptImageSurfacesWithItsRowWhenItsBatchIsReached()
        {
            // Two corrupt rows, which different reader threads decode: the first one is reported, whichever fails
            // first.
            var rows = Rows(70, seed: 6);
            rows[41].ImageSource = new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
            rows[40].ImageSource = new byte[] { 9, 8, 7, 6, 5, 4, 3, 2, 1 };
            var scored = _model.Transform(Ml.Data.LoadFromEnumerable(rows));
            using var cursor = scored.GetRowCursor(new[] { scored.Schema["Score"] });
            int served = 0;
            var error = Assert.ThrowsExactly<InvalidImageException>(() =>
            {
                while (cursor.MoveNext())
                    served++;
            });
            StringAssert.Contains(error.Message, "Column 'ImageSource', row 40");
            Assert.AreEqual(32, served, "the first batch is served before the second one fails");
        }
    }
}

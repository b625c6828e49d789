// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Freezing.Tests.MLNet;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests.Reliability
{
    /// <summary>
    /// Bad data is caught before the first training batch; a diverging run never returns or saves a NaN model.
    /// (The messages of these errors are checked in MLNet/TrainerErrorTests.)
    /// </summary>
    [TestClass]
    public sealed class BadDataTests
    {
        private static readonly MLContext Ml = new MLContext(seed: 1);

        private sealed class NumericRow
        {
            public float ImageSource { get; set; }
            public string Label { get; set; }
        }

        private sealed class UnlabelledRow
        {
            public byte[] ImageSource { get; set; }
        }

        [TestMethod]
        public void BadDataIsRejectedBeforeTheFirstBatch()
        {
            var stripes = GeneratedImages.Stripes(8, seed: 1);
            var keys = Ml.Transforms.Conversion.MapValueToKey("Label").Fit(Ml.Data.LoadFromEnumerable(stripes));
            var withDiagonal = Ml.Transforms.Conversion.MapValueToKey("Label")
                .Fit(Ml.Data.LoadFromEnumerable(
                    stripes.Append(new ModelInput { ImageSource = stripes[0].ImageSource, Label = "diagonal" })));
            var cases = new (string Name, IDataView Train, IDataView Validation, string Expected)[]
            {
                ("no label column",
                    Ml.Data.LoadFromEnumerable(stripes.Select(r => new UnlabelledRow { ImageSource = r.ImageSource })),
                    null, "has no label column 'Label'"),
                ("every label missing",
                    keys.Transform(
                    Ml.Data.LoadFromEnumerable(
                    stripes.Select(r => new ModelInput { ImageSource = r.ImageSource, Label = "unknown" }))), null,
                    "has no rows with a label"),
                ("one class", keys.Transform(Ml.Data.LoadFromEnumerable(stripes.Where(r => r.Label == "vertical"))),
                    null, "only one class"),
                ("validation class the training set lacks", withDiagonal.Transform(Ml.Data.LoadFromEnumerable(stripes)),
                    withDiagonal.Transform(
                        Ml.Data.LoadFromEnumerable(
                        new[] { new ModelInput { ImageSource = stripes[1].ImageSource, Label = "diagonal" } })),
                        "training data lacks"),
                ("empty data set", keys.Transform(Ml.Data.LoadFromEnumerable(stripes.Take(0))), null, "has no rows"),
                ("feature column of the wrong type",
                    keys.Transform(
                    Ml.Data.LoadFromEnumerable(new[] { new NumericRow { ImageSource = 1, Label = "vertical" } })), null,
                    "Feature column 'ImageSource' must hold encoded image bytes"),
            };
            foreach (var (name, train, validation, expected) in cases)
            {
                int batches = 0;
                var options = TinyModel.Options();
                options.ValidationSet = validation;
                options.BatchCallback = _ => batches++;
                var trainer = Ml.MulticlassClassification.Trainers.FrozenResNet(options);
                Exception error = null;
                try
                {
                    trainer.Fit(train).Dispose();
                }
                catch (Exception ex)
                {
                    error = ex;
                }
                Assert.IsNotNull(error, $"{name}: no error");
                StringAssert.Contains(error.Message, expected, name);
                Assert.AreEqual(0, batches, $"{name}: {batches} batches ran before the error");
            }
        }

        [TestMethod]
        public void ALastBatchOfOneImageJoinsTheBatchBeforeSoTrainedBatchNormsStayFinite()
        {
            // 17 images in batches of 16 at 32 px: a last batch of one image would leave layer4's BatchNorms (1x1
            // maps, training mode) one value per channel, and libtorch's running variance would become NaN.
            var ml = new MLContext(seed: 1);
            var batches = new List<(int Batch, int Of)>();
            var options = TinyModel.Options(epochs: 2);
            options.BatchCallback = p => batches.Add((p.Batch, p.BatchesPerEpoch));
            using var model = TinyModel.Pipeline(ml, options).Fit(
                ml.Data.LoadFromEnumerable(GeneratedImages.Stripes(17, seed: 3)));
            CollectionAssert.AreEqual(new[] { (1, 1), (1, 1) }, batches);
            var variance = model.LastTransformer.Model.Network.named_buffers()
                .Single(b => b.name == "layer4.0.bn1.running_var").buffer;
            Assert.IsTrue(variance.isfinite().all().item<bool>());
        }

        [TestMethod]
        public void MissingLabelsAreSkippedCountedAndLogged()
        {
            var ml = new MLContext(seed: 1);
            var log = new List<string>();
            ml.Log += (_, e) => { lock (log) log.Add(e.Message); };
            var rows = GeneratedImages.Stripes(12, seed: 2);
            var keys = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(rows));
            rows[3].Label = "not a class";
            rows[8].Label = "";
            using var model = ml.MulticlassClassification.Trainers.FrozenResNet(TinyModel.Options())
                .Fit(keys.Transform(ml.Data.LoadFromEnumerable(rows)));
            Assert.IsTrue(log.Any(l => l.Contains("Skipped 2 training rows with a missing label")),
                string.Join("\n", log));
        }

        [TestMethod]
        public void LossThatTurnsNonFiniteStopsTrainingNamingEpochAndBatchAndNothingIsReturned()
        {
            var data = Ml.Data.LoadFromEnumerable(GeneratedImages.Stripes(32, seed: 3));
            var options = TinyModel.Options(epochs: 3);
            options.BatchSize = 8;
            options.LearningRate = 1e12;
            options.Momentum = 0;
            TransformerChain<FrozenResNetTransformer> model = null;
            var error = Assert.ThrowsExactly<ArithmeticException>(
                () => model = TinyModel.Pipeline(Ml, options).Fit(data));
            StringAssert.Contains(error.Message, "Training diverged");
            StringAssert.Matches(error.Message, new System.Text.RegularExpressions.Regex(@"at epoch \d+, batch \d+"));
            Assert.IsNull(model);
        }

        [TestMethod]
        public void LastStepThatOverflowsTheWeightsIsCaughtBeforeAModelIsReturned()
        {
            // One batch in one epoch: its loss is finite (random weights), but the step with this rate makes the
            // weights infinite or so large that the outputs overflow, and no later loss would notice.
            var data = Ml.Data.LoadFromEnumerable(GeneratedImages.Stripes(8, seed: 4));
            var options = TinyModel.Options(epochs: 1);
            options.BatchSize = 8;
            options.LearningRate = float.MaxValue;
            options.Momentum = 0;
            options.WeightDecay = 0;
            var error = Assert.ThrowsExactly<ArithmeticException>(() => TinyModel.Pipeline(Ml, options).Fit(data));
            StringAssert.Contains(error.Message, "Training diverged: after the last step");
            StringAssert.Contains(error.Message, "non-finite");

            // A rate float32 cannot hold is refused up front (libtorch would fail inside the step).
            options.LearningRate = 1e300;
            var refused = Assert.Throws<ArgumentException>(
                () => Ml.MulticlassClassification.Trainers.FrozenResNet(options));
            StringAssert.Contains(refused.Message, "LearningRate");
        }

        [TestMethod]
        public void ModelWithNonFiniteWeightsIsNeverSaved()
        {
            var model = Ml.Model.Load(TinyModel.Zip, out var schema);
            try
            {
                var frozen = ((IEnumerable<ITransformer>)model).OfType<FrozenResNetTransformer>().Single();
                using (TorchSharp.torch.no_grad())
                    frozen.Model.Network.state_dict()["fc.bias"].fill_(float.NaN);
                var stream = new MemoryStream();
                var error = Assert.Throws<InvalidOperationException>(() => Ml.Model.Save(model, schema, stream));
                StringAssert.Contains(error.Message, "fc.bias holds non-finite values");
            }
            finally
            {
                (model as IDisposable)?.Dispose();
            }
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Runtime;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests.MLNet
{
    /// <summary>
    /// The optimizer state travels with a model only when asked
    /// (<see cref="FrozenResNetTrainer.Options.SaveOptimizerState"/>): a zip of the weights alone is at most 1.15x
    /// their float32 size, and continued training works either way.
    /// </summary>
    [TestClass]
    public sealed class OptimizerStateTests
    {
        private static FrozenResNetTrainer.Options Options(bool keepState, int epochs = 2)
            => new FrozenResNetTrainer.Options
        {
            LabelColumnName = "Label", FeatureColumnName = "ImageSource", ImageSize = 32, Epochs = epochs,
            BatchSize = 16,
            LearningRate = 0.02, Seed = 3, PretrainedWeights = PretrainedWeights.None, ValidationFraction = 0,
            SaveOptimizerState = keepState,
        };

        private static (ITransformer Model, string Zip, long WeightBytes) TrainAndSave(MLContext ml,
            IDataView data, bool keepState, string folder)
        {
            var pipeline = ml.Transforms.Conversion.MapValueToKey("Label", "Label")
                .Append(ml.MulticlassClassification.Trainers.FrozenResNet(Options(keepState)));
            var model = pipeline.Fit(data);
            var network = ((IEnumerable<ITransformer>)model).OfType<FrozenResNetTransformer>().Single().Model.Network;
            long weightBytes = network.state_dict().Values.Sum(t => t.numel() * t.element_size());
            string zip = Path.Combine(folder, keepState ? "with-state.zip" : "weights-only.zip");
            ml.Model.Save(model, data.Schema, zip);
            return (model, zip, weightBytes);
        }

        private static bool HasOptimizerStream(string zip)
        {
            using var archive = ZipFile.OpenRead(zip);
            return archive.Entries.Any(e => e.FullName.EndsWith("/OptimizerState", StringComparison.Ordinal));
        }

        /// <summary>Loads the zip and continues training it for two epochs; returns the run and ML.NET's log.</summary>
        private static (FrozenResNetTransformer Continued, List<string> Log) Continue(MLContext ml, IDataView data,
            string zip, bool keepState)
        {
            var loaded = ml.Model.Load(zip, out _);
            try
            {
                var keyed = ((IEnumerable<ITransformer>)loaded).First().Transform(data);
                var log = new List<string>();
                var continuing = new MLContext(seed: 1);
                continuing.Log += (_, e) => { lock (log) log.Add(e.Message); };
                var previous = ((IEnumerable<ITransformer>)loaded).OfType<FrozenResNetTransformer>().Single();
                var continued = continuing.MulticlassClassification.Trainers.FrozenResNet(Options(keepState))
                    .Fit(keyed, previous);
                return (continued, log);
            }
            finally
            {
                (loaded as IDisposable)?.Dispose();
            }
        }

        /// <summary>
        /// Trains and saves in a temporary folder, runs <paramref name="check"/>, deletes the folder.
        /// </summary>
        private static void WithSavedModel(bool keepState, Action<MLContext, IDataView, string, long> check)
        {
            string folder = Directory.CreateTempSubdirectory("optimizer-state-").FullName;
            try
            {
                var ml = new MLContext(seed: 1);
                var data = ml.Data.LoadFromEnumerable(GeneratedImages.Stripes(64, seed: 1));
                var (model, zip, weightBytes) = TrainAndSave(ml, data, keepState, folder);
                (model as IDisposable)?.Dispose();
                check(ml, data, zip, weightBytes);
            }
            finally
            {
                Directory.Delete(folder, recursive: true);
            }
        }

        [TestMethod]
        public void ByDefaultTheZipHoldsTheWeightsAloneAndContinuedTrainingStartsAFreshOptimizer()
            => WithSavedModel(keepState: false, (ml, data, zip, weightBytes) =>
            {
                double ratio = (double)new FileInfo(zip).Length / weightBytes;
                Console.WriteLine(
                    $"zip {new FileInfo(zip).Length} bytes, float32 weights {weightBytes} bytes: {ratio:F3}x");
                Assert.IsTrue(ratio <= 1.15, $"the zip is {ratio:F3}x its weights");
                Assert.IsFalse(HasOptimizerStream(zip));

                var (continued, log) = Continue(ml, data, zip, keepState: false);
                using (continued)
                    Assert.AreEqual(4, continued.History.Count);
                Assert.IsTrue(log.Any(l => l.Contains("fresh optimizer state")), string.Join("\n", log.TakeLast(20)));
            });

        [TestMethod]
        public void SaveOptimizerStateKeepsItInTheZipAndContinuedTrainingResumesIt()
            => WithSavedModel(keepState: true, (ml, data, zip, weightBytes) =>
            {
                Assert.IsTrue(HasOptimizerStream(zip));
                Assert.IsTrue(new FileInfo(zip).Length > 1.5 * weightBytes, "SGD momentum is as large as the weights");

                var (continued, log) = Continue(ml, data, zip, keepState: true);
                continued.Dispose();
                Assert.IsTrue(
                    log.Any(l => l.Contains("Continuing from the previous model's weights and optimizer state")),
                    string.Join("\n", log.TakeLast(20)));
            });
    }
}

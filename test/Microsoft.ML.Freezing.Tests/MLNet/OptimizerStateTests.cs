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

        private static (ITransformer Model, List<string> Log, string Zip, long WeightBytes) TrainAndSave(MLContext ml,
            IDataView data, bool keepState, string folder)
        {
            var log = new List<string>();
            ml.Log += (_, e) => { lock (log) log.Add(e.Message); };
            var pipeline = ml.Transforms.Conversion.MapValueToKey("Label", "Label")
                .Append(ml.MulticlassClassification.Trainers.FrozenResNet(Options(keepState)));
            var model = pipeline.Fit(data);
            var network = ((IEnumerable<ITransformer>)model).OfType<FrozenResNetTransformer>().Single().Model.Network;
            long weightBytes = network.state_dict().Values.Sum(t => t.numel() * t.element_size());
            string zip = Path.Combine(folder, keepState ? "with-state.zip" : "weights-only.zip");
            ml.Model.Save(model, data.Schema, zip);
            return (model, log, zip, weightBytes);
        }

        private static bool HasOptimizerStream(string zip)
        {
            using var archive = ZipFile.OpenRead(zip);
            return archive.Entries.Any(e => e.FullName.EndsWith("/OptimizerState", StringComparison.Ordinal));
        }

        [TestMethod]
        public void ByDefaultTheZipHoldsTheWeightsAloneAndContinuedTrainingStartsAFreshOptimizer()
        {
            string folder = Directory.CreateTempSubdirectory("optimizer-state-").FullName;
            try
            {
                var ml = new MLContext(seed: 1);
                var data = ml.Data.LoadFromEnumerable(GeneratedImages.Stripes(64, seed: 1));
                var (model, _, zip, weightBytes) = TrainAndSave(ml, data, keepState: false, folder);
                (model as IDisposable)?.Dispose();
                double ratio = (double)new FileInfo(zip).Length / weightBytes;
                Console.WriteLine(
                    $"zip {new FileInfo(zip).Length} bytes, float32 weights {weightBytes} bytes: {ratio:F3}x");
                Assert.IsTrue(ratio <= 1.15, $"the zip is {ratio:F3}x its weights");
                Assert.IsFalse(HasOptimizerStream(zip));

                var loaded = ml.Model.Load(zip, out _);
                var keyed = ((IEnumerable<ITransformer>)loaded).First().Transform(data);
                var log = new List<string>();
                var continuing = new MLContext(seed: 1);
                continuing.Log += (_, e) => { lock (log) log.Add(e.Message); };
                var previous = ((IEnumerable<ITransformer>)loaded).OfType<FrozenResNetTransformer>().Single();
                using var continued = continuing.MulticlassClassification.Trainers.FrozenResNet(Options(false))
                    .Fit(keyed, previous);
                Assert.AreEqual(4, continued.History.Count);
                Assert.IsTrue(log.Any(l => l.Contains("fresh optimizer state")), string.Join("\n", log.TakeLast(20)));
                (loaded as IDisposable)?.Dispose();
            }
            finally
            {
                Directory.Delete(folder, recursive: true);
            }
        }

        [TestMethod]
        public void SaveOptimizerStateKeepsItInTheZipAndContinuedTrainingResumesIt()
        {
            string folder = Directory.CreateTempSubdirectory("optimizer-state-").FullName;
            try
            {
                var ml = new MLContext(seed: 1);
                var data = ml.Data.LoadFromEnumerable(GeneratedImages.Stripes(64, seed: 1));
                var (model, _, zip, weightBytes) = TrainAndSave(ml, data, keepState: true, folder);
                (model as IDisposable)?.Dispose();
                Assert.IsTrue(HasOptimizerStream(zip));
                Assert.IsTrue(new FileInfo(zip).Length > 1.5 * weightBytes, "SGD momentum is as large as the weights");

                var loaded = ml.Model.Load(zip, out _);
                var keyed = ((IEnumerable<ITransformer>)loaded).First().Transform(data);
                var log = new List<string>();
                var continuing = new MLContext(seed: 1);
                continuing.Log += (_, e) => { lock (log) log.Add(e.Message); };
                var previous = ((IEnumerable<ITransformer>)loaded).OfType<FrozenResNetTransformer>().Single();
                using var continued = continuing.MulticlassClassification.Trainers.FrozenResNet(Options(true))
                    .Fit(keyed, previous);
                Assert.IsTrue(
                    log.Any(l => l.Contains("Continuing from the previous model's weights and optimizer state")),
                    string.Join("\n", log.TakeLast(20)));
                (loaded as IDisposable)?.Dispose();
            }
            finally
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }
}

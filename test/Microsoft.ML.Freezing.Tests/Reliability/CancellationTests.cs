// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.ML;
using Microsoft.ML.Freezing.Tests.MLNet;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests.Reliability
{
    /// <summary>
    /// MLContext.CancelExecution() and the CancellationToken option stop training within one batch with an
    /// OperationCanceledException, and leave no file behind.
    /// </summary>
    [TestClass]
    public sealed class CancellationTests
    {
        private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

        // ML.NET 5.0.1 keeps MLContext.CancelExecution() internal (Microsoft.ML.Experimental exposes it as an
        // extension).
        private static void CancelExecution(MLContext ml)
            => typeof(MLContext)
                .GetMethod("CancelExecution", BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic,
                Type.EmptyTypes)
                .Invoke(ml, null);

        /// <summary>
        /// Starts a 32 px ResNet-18 training that would take minutes, cancels it once two batches have run, and returns
        /// the time from the cancel call to the exception.
        /// </summary>
        private static TimeSpan CancelWhileTraining(MLContext ml, Action<FrozenResNetTrainer.Options> configure,
            Action cancel, out int batches)
        {
            var data = ml.Transforms.Conversion.MapValueToKey("Label")
                .Fit(ml.Data.LoadFromEnumerable(GeneratedImages.Stripes(8, seed: 1)))
                .Transform(ml.Data.LoadFromEnumerable(GeneratedImages.Stripes(512, seed: 1)));
            int count = 0;
            using var running = new ManualResetEventSlim();
            var options = new FrozenResNetTrainer.Options
            {
                FeatureColumnName = "ImageSource", ImageSize = 32, Epochs = 50, BatchSize = 16, Seed = 1,
                PretrainedWeights = PretrainedWeights.None, ValidationFraction = 0,
                BatchCallback = _ =>
                {
                    if (Interlocked.Increment(ref count) == 2) running.Set();
                },
            };
            configure(options);
            var trainer = ml.MulticlassClassification.Trainers.FrozenResNet(options);
            var fit = Task.Run(() => trainer.Fit(data));
            Assert.IsTrue(running.Wait(TimeSpan.FromSeconds(60)), "training did not start");
            var clock = Stopwatch.StartNew();
            cancel();
            var error = Assert.ThrowsExactly<AggregateException>(() => fit.Wait(TimeSpan.FromSeconds(60)));
            clock.Stop();
            Assert.IsInstanceOfType<OperationCanceledException>(error.InnerException, error.ToString());
            batches = count;
            Console.WriteLine(
                $"cancelled after {batches} batches, {clock.Elapsed.TotalMilliseconds:F0} ms after the cancel call");
            return clock.Elapsed;
        }

        [TestMethod]
        public void CancellationTokenStopsTrainingWithinOneBatch()
        {
            using var cts = new CancellationTokenSource();
            var latency = CancelWhileTraining(new MLContext(seed: 1), o => o.CancellationToken = cts.Token, cts.Cancel,
                out int batches);
            Assert.IsLessThan(Limit, latency);
            Assert.IsLessThan(8, batches, "more than one batch ran after the cancel call");
        }

        [TestMethod]
        public void MLContextCancelExecutionStopsTrainingWithinOneBatch()
        {
            var ml = new MLContext(seed: 1);
            var latency = CancelWhileTraining(ml, _ => { }, () => CancelExecution(ml), out int batches);
            Assert.IsLessThan(Limit, latency);
            Assert.IsLessThan(8, batches, "more than one batch ran after the cancel call");
        }

        [TestMethod]
        public void CancellationStopsReadingTheDataBeforeTraining()
        {
            var ml = new MLContext(seed: 1);
            var rows = GeneratedImages.Stripes(64, seed: 2);
            var keys = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(rows));
            using var cts = new CancellationTokenSource();
            int read = 0;
            // The token is cancelled when the 10th row is produced. (ML.NET's cursor reads the enumerable ahead on a
            // background thread, so how many rows it produced says nothing; where the exception comes from does.)
            var data = keys.Transform(ml.Data.LoadFromEnumerable(rows.Select(r =>
            {
                if (Interlocked.Increment(ref read) == 10) cts.Cancel();
                return r;
            })));
            var options = TinyModel.Options();
            options.CancellationToken = cts.Token;
            int batches = 0;
            options.BatchCallback = _ => batches++;
            var error = Assert.ThrowsExactly<OperationCanceledException>(
                () => ml.MulticlassClassification.Trainers.FrozenResNet(options).Fit(data));
            Assert.AreEqual(0, batches);
            StringAssert.Contains(error.StackTrace, "TrainingRows.Read", "the data read did not stop");
        }

        [TestMethod]
        public void CancelledTrainingLeavesNoSpilledActivationFile()
        {
            // The activation cache spills to memory-mapped files when over its memory cap; cancelling mid-epoch removes
            // them.
            string folder = Path.Combine(TinyModel.Folder, "spill-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(folder);
            using var model = new ResNet(TestData.TinyDefinition(), seed: 1);
            using var data = TestData.RandomImages(64);
            using var cts = new CancellationTokenSource();
            int filesSeen = 0;
            var options = new FineTuneOptions
            {
                Epochs = 3, BatchSize = 8, Freeze = FreezeMask.Parse("stem..layer3"), ActivationCacheFolder = folder,
                ActivationCacheMemoryLimit = 1,
                CancellationToken = cts.Token,
                BatchCallback = p =>
                {
                    filesSeen = Math.Max(filesSeen, Directory.GetFiles(folder).Length);
                    if (p.Epoch == 1 && p.Batch == 3) cts.Cancel();
                },
            };
            using var tuner = new FineTuner(model, options);
            Assert.ThrowsExactly<OperationCanceledException>(() => tuner.Fit(data));
            Assert.IsGreaterThan(0, filesSeen, "the cache did not spill, so the test shows nothing");
            CollectionAssert.AreEqual(Array.Empty<string>(), Directory.GetFiles(folder), "files left behind");
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using Microsoft.ML.Freezing.Tests.Reliability;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests.MLNet
{
    /// <summary>
    /// <see cref="FineTuneSettings.CheckpointFolder"/> through the ML.NET trainer: MLContext.CancelExecution() leaves a
    /// checkpoint that the next Fit resumes (History says which epochs came from it, MetricsCallback sees only the new
    /// ones) and scores like an uninterrupted Fit; a checkpoint made with other class names is refused, naming them.
    /// </summary>
    [TestClass]
    public sealed class CheckpointTrainerTests
    {
        private static readonly string Root = Path.Combine(Path.GetTempPath(),
            "frozen-resnet-trainer-checkpoints-" + Guid.NewGuid().ToString("N"));

        [ClassCleanup]
        public static void Remove()
        {
            if (Directory.Exists(Root))
                Directory.Delete(Root, recursive: true);
        }

        private static void CancelExecution(MLContext ml)
            => typeof(MLContext)
                .GetMethod("CancelExecution", BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic,
                Type.EmptyTypes)
                .Invoke(ml, null);

        private static (FrozenResNetTransformer Trained, float[] Scores, List<int> Callbacks) Fit(MLContext ml,
            string folder, IEnumerable<ModelInput> rows, Action<BatchProgress> onBatch = null)
        {
            // One thread, restored after (NumberOfThreads would leave it set for the tests that follow).
            using var threads = TinyModel.OneThread();
            var callbacks = new List<int>();
            var options = TinyModel.Options(epochs: 3) with
            {
                CheckpointFolder = folder,
                MetricsCallback = e => callbacks.Add(e.Record.Epoch), BatchCallback = onBatch,
            };
            var data = ml.Data.LoadFromEnumerable(rows);
            var model = TinyModel.Pipeline(ml, options).Fit(data);
            var scores = ml.Data.CreateEnumerable<ScoreOutput>(model.Transform(data), reuseRowObject: false)
                .SelectMany(s => s.Score).ToArray();
            return (model.LastTransformer, scores, callbacks);
        }

        [TestMethod]
        public void CancelExecutionLeavesACheckpointThatTheNextFitResumes()
        {
            var rows = GeneratedImages.Stripes(32, seed: 11);
            var (uninterrupted, expected, _) = Fit(new MLContext(seed: 1), Path.Combine(Root, "whole"), rows);
            using (uninterrupted)
            {
                string folder = Path.Combine(Root, "cancelled");
                var cancelled = new MLContext(seed: 1);
                Assert.Throws<OperationCanceledException>(() => Fit(cancelled, folder, rows, progress =>
                {
                    if (progress.Epoch == 2)
                        CancelExecution(cancelled);
                }));
                Assert.IsTrue(File.Exists(Path.Combine(folder, "epoch-0001.ckpt")));

                var (resumed, scores, callbacks) = Fit(new MLContext(seed: 1), folder, rows);
                using (resumed)
                {
                    CollectionAssert.AreEqual(new[] { true, true, false },
                        resumed.History.Select(h => h.Record.FromCheckpoint).ToArray());
                    CollectionAssert.AreEqual(new[] { 2 }, callbacks, "MetricsCallback runs for the new epochs only");
                    double worst = expected.Zip(scores, (a, b) => Math.Abs((double)a - b)).Max();
                    Console.WriteLine($"largest score difference from the uninterrupted Fit: {worst:G3}");
                    Assert.IsLessThanOrEqualTo(1e-5, worst);
                }
            }
        }

        [TestMethod]
        public void CheckpointWithOtherClassNamesIsRefused()
        {
            string folder = Path.Combine(Root, "classes");
            var rows = GeneratedImages.Stripes(32, seed: 11);
            Fit(new MLContext(seed: 1), folder, rows).Trained.Dispose();
            var renamed = rows.Select(r => new ModelInput { ImageSource = r.ImageSource, Label = r.Label[..1] });
            var error = Assert.ThrowsExactly<InvalidOperationException>(
                () => Fit(new MLContext(seed: 1), folder, renamed));
            StringAssert.Contains(error.Message,
                "class names: the checkpoint has 'horizontal, vertical', this run 'h, v'");
            StringAssert.Contains(error.Message, folder);
        }
    }
}

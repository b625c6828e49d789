// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using Microsoft.ML.Freezing.Tests.Reliability;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing.Tests.Training
{
    /// <summary>
    /// Checkpoints of the engine (<see cref="FineTuneSettings.CheckpointFolder"/>) in one process: a run stopped after
    /// an epoch (an exception in the epoch callback, a cancellation) resumes and ends with the weights of the run that
    /// never stopped, bit for bit; a finished run's checkpoint gives its model back; more epochs continue; a checkpoint
    /// of another run is refused, and a damaged one is refused by name in favour of the one before.
    /// Reliability/CheckpointProcessTests kills real processes.
    /// </summary>
    [TestClass]
    public sealed class CheckpointTests
    {
        private sealed class CrashException : Exception
        {
        }

        private sealed record Outcome(List<EpochRecord> History, Dictionary<string, Tensor> Weights,
            List<string> Log, int? ResumedAfterEpoch, int Batches, string Folder);

        private static readonly List<string> Folders = new List<string>();

        // Auto with a min delta nothing can beat: the head trains epoch 0, the head alone trains epochs 1-3 as the
        // baseline of the thaw at 1, which cannot pay; with these images it is ahead at 1, so it trains epoch 2, and
        // at 3 the run ends with the baseline's (or epoch 0's) weights.
        private static readonly Lazy<Outcome> UninterruptedAuto = new Lazy<Outcome>(
            () => Train(Options(NewFolder(), 4, UnfreezeSchedule.Auto(1, minDelta: 100))));
        private static readonly Lazy<Outcome> UninterruptedPlanned = new Lazy<Outcome>(
            () => Train(Options(NewFolder(), 3, UnfreezeSchedule.Gradual(1, 1))));

        [ClassCleanup]
        public static void RemoveFolders()
        {
            foreach (var folder in Folders.Where(Directory.Exists))
                Directory.Delete(folder, recursive: true);
        }

        private static string NewFolder()
        {
            string folder = Path.Combine(Path.GetTempPath(),
                "frozen-resnet-checkpoints-" + Guid.NewGuid().ToString("N"));
            Folders.Add(folder);
            return folder;
        }

        private static FineTuneOptions Options(string folder, int epochs, ThawPolicy policy) => new FineTuneOptions
        {
            Epochs = epochs, BatchSize = 8, LearningRate = 0.05, Seed = 3, Freeze = FreezeMask.AllButHead,
            Unfreezing = policy, CheckpointFolder = folder,
        };

        /// <summary>Trains the tiny network on 16 random images (8 validate); callbacks and log are set here.</summary>
        private static Outcome Train(FineTuneOptions options, ulong dataSeed = 7, ResNetDefinition definition = null,
            Action<EpochRecord> onEpoch = null, Action<BatchProgress> onBatch = null)
        {
            using var threads = TinyModel.OneThread();
            using var model = new ResNet(definition ?? TestData.TinyDefinition(), seed: 2);
            using var train = TestData.RandomImages(16, seed: dataSeed);
            using var validation = TestData.RandomImages(8, seed: 9);
            var log = new List<string>();
            int batches = 0;
            options.Log = log.Add;
            options.EpochCallback = onEpoch;
            options.BatchCallback = progress =>
            {
                batches++;
                onBatch?.Invoke(progress);
            };
            using var tuner = new FineTuner(model, options);
            var history = tuner.Fit(train, validation).ToList();
            return new Outcome(history, TestData.Snapshot(model), log, tuner.ResumedAfterEpoch, batches,
                options.CheckpointFolder);
        }

        private static void AssertSameRun(Outcome expected, Outcome actual)
        {
            Assert.HasCount(expected.History.Count, actual.History);
            for (int e = 0; e < expected.History.Count; e++)
            {
                Assert.AreEqual(expected.History[e].TrainLoss, actual.History[e].TrainLoss, $"epoch {e} train loss");
                Assert.AreEqual(expected.History[e].ValidationLoss, actual.History[e].ValidationLoss, $"epoch {e}");
                CollectionAssert.AreEqual(expected.History[e].FrozenStages.ToArray(),
                    actual.History[e].FrozenStages.ToArray(), $"epoch {e} frozen stages");
                Assert.AreEqual(expected.History[e].ThawReason, actual.History[e].ThawReason, $"epoch {e}");
                Assert.AreEqual(expected.History[e].RestoredEpoch, actual.History[e].RestoredEpoch, $"epoch {e}");
                Assert.AreEqual(expected.History[e].HeadOnlyBaselineKept, actual.History[e].HeadOnlyBaselineKept);
                Assert.AreEqual(expected.History[e].HeadOnlyBaseline?.ValidationLoss,
                    actual.History[e].HeadOnlyBaseline?.ValidationLoss, $"epoch {e}'s head-only baseline");
            }
            foreach (var (name, tensor) in expected.Weights)
                Assert.IsTrue(TestData.Same(tensor, actual.Weights[name]), $"{name} differs from the uninterrupted");
        }

        private static string Log(Outcome outcome) => string.Join("\n", outcome.Log);

        [TestMethod]
        public void RunStoppedAfterAnEpochResumesAndEndsWithTheUninterruptedWeights()
        {
            string folder = NewFolder();
            var options = Options(folder, 4, UnfreezeSchedule.Auto(1, minDelta: 100));
            Assert.ThrowsExactly<CrashException>(() => Train(options, onEpoch: record =>
            {
                // The checkpoint is written before the epoch's callback runs.
                Assert.IsTrue(File.Exists(Path.Combine(folder, $"epoch-{record.Epoch:D4}.ckpt")), "no checkpoint yet");
                if (record.Epoch == 0)
                    throw new CrashException();
            }));

            var resumed = Train(Options(folder, 4, UnfreezeSchedule.Auto(1, minDelta: 100)));
            Assert.AreEqual(0, resumed.ResumedAfterEpoch);
            // Only epochs 1 and 2 (2 batches each) train; the baseline's batches are not the run's progress. Its
            // first epoch refills the cache in index order, so it trains on what the uninterrupted baseline read.
            Assert.AreEqual(4, resumed.Batches, Log(resumed));
            CollectionAssert.AreEqual(new[] { true, false, false },
                resumed.History.Select(h => h.FromCheckpoint).ToArray());
            Assert.IsTrue(resumed.Log.Any(l => l.StartsWith("Resuming from checkpoint") && l.Contains("after epoch 0")),
                Log(resumed));
            Assert.IsTrue(resumed.Log.Any(l => l.StartsWith("Checkpoint after epoch 2") && l.Contains(" MB")),
                Log(resumed));
            AssertSameRun(UninterruptedAuto.Value, resumed);
            // Two generations are kept.
            CollectionAssert.AreEqual(new[] { "epoch-0001.ckpt", "epoch-0002.ckpt" },
                Directory.GetFiles(folder).Select(Path.GetFileName).OrderBy(n => n, StringComparer.Ordinal).ToArray());
        }

        [TestMethod]
        public void RunStoppedAfterTheHeadOnlyBaselineResumesWithItFromTheCheckpoint()
        {
            string folder = NewFolder();
            var options = Options(folder, 4, UnfreezeSchedule.Auto(1, minDelta: 100));
            Assert.ThrowsExactly<CrashException>(() => Train(options, onEpoch: record =>
            {
                if (record.Epoch == 1)
                    throw new CrashException();
            }));

            // Epoch 2 and the decision at 3 need the baseline trained before epoch 1: its records and best weights
            // come from the checkpoint, and only epoch 2 trains.
            var resumed = Train(Options(folder, 4, UnfreezeSchedule.Auto(1, minDelta: 100)));
            Assert.AreEqual(1, resumed.ResumedAfterEpoch);
            Assert.AreEqual(2, resumed.Batches, Log(resumed));
            Assert.IsFalse(resumed.Log.Any(l => l.Contains("as a baseline for the thaw")), Log(resumed));
            Assert.IsNotNull(resumed.History[1].HeadOnlyBaseline);
            AssertSameRun(UninterruptedAuto.Value, resumed);
            var uninterrupted = UninterruptedAuto.Value.History;
            Assert.HasCount(3, uninterrupted, Log(UninterruptedAuto.Value));
            Assert.IsTrue(uninterrupted[^1].HeadOnlyBaselineKept, Log(UninterruptedAuto.Value));
            StringAssert.Contains(uninterrupted[^1].StopReason, "keeping the head alone trained to the end");
        }

        [TestMethod]
        public void CheckpointOfAFinishedRunReturnsItsModelWithoutTraining()
        {
            var finished = UninterruptedPlanned.Value;
            var again = Train(Options(finished.Folder, 3, UnfreezeSchedule.Gradual(1, 1)));
            Assert.AreEqual(0, again.Batches);
            Assert.AreEqual(2, again.ResumedAfterEpoch);
            Assert.IsTrue(again.History.All(h => h.FromCheckpoint));
            Assert.IsTrue(again.Log.Any(l => l.Contains("holds the finished run")), Log(again));
            AssertSameRun(finished, again);
        }

        [TestMethod]
        public void RaisingEpochsContinuesTheRun()
        {
            string folder = NewFolder();
            var twoEpochs = Train(Options(folder, 2, UnfreezeSchedule.Gradual(1, 1)));
            Assert.HasCount(2, twoEpochs.History);
            var continued = Train(Options(folder, 3, UnfreezeSchedule.Gradual(1, 1)));
            Assert.AreEqual(1, continued.ResumedAfterEpoch);
            Assert.AreEqual(2, continued.Batches);
            Assert.IsTrue(continued.Log.Any(l => l.Contains("written by a run of 2 epochs")), Log(continued));
            // A constant rate and a plan that does not depend on the run's length: the 3-epoch run, exactly.
            AssertSameRun(UninterruptedPlanned.Value, continued);
        }

        [TestMethod]
        public void CheckpointOfAnotherRunIsRefusedSayingWhatDiffers()
        {
            string folder = NewFolder();
            Train(Options(folder, 1, UnfreezeSchedule.None));

            var options = Options(folder, 2, UnfreezeSchedule.None) with { LearningRate = 0.01, BatchSize = 4 };
            var error = Assert.ThrowsExactly<InvalidOperationException>(() => Train(options));
            StringAssert.Contains(error.Message, "LearningRate: the checkpoint has '0.05', this run '0.01'");
            StringAssert.Contains(error.Message, "BatchSize: the checkpoint has '8', this run '4'");

            error = Assert.ThrowsExactly<InvalidOperationException>(
                () => Train(Options(folder, 2, UnfreezeSchedule.None), dataSeed: 8));
            StringAssert.Contains(error.Message, "training data: the checkpoint has '16 examples, SHA-256 ");
            Assert.IsFalse(error.Message.Contains("LearningRate"), error.Message);

            error = Assert.ThrowsExactly<InvalidOperationException>(() => Train(Options(folder, 2,
                UnfreezeSchedule.None), definition: TestData.TinyDefinition(classes: 2)));
            StringAssert.Contains(error.Message, "network: the checkpoint has");
            // Nothing was overwritten: the right run still resumes.
            Assert.AreEqual(0, Train(Options(folder, 2, UnfreezeSchedule.None)).ResumedAfterEpoch);
        }

        [TestMethod]
        public void DamagedGenerationIsRefusedByNameAndThePreviousOneResumes()
        {
            string folder = NewFolder();
            Train(Options(folder, 3, UnfreezeSchedule.Gradual(1, 1)));
            string newest = Path.Combine(folder, "epoch-0002.ckpt");

            // One flipped byte in the middle of the weights.
            var bytes = File.ReadAllBytes(newest);
            bytes[bytes.Length / 2] ^= 0x40;
            File.WriteAllBytes(newest, bytes);
            var resumed = Train(Options(folder, 3, UnfreezeSchedule.Gradual(1, 1)));
            Assert.IsTrue(resumed.Log.Any(l => l.StartsWith("Checkpoint epoch-0002.ckpt is damaged")
                && l.Contains("SHA-256") && l.Contains("trying the previous generation")), Log(resumed));
            Assert.AreEqual(1, resumed.ResumedAfterEpoch);
            Assert.IsTrue(File.Exists(newest + ".damaged"));
            AssertSameRun(UninterruptedPlanned.Value, resumed);

            // Cut short (the resumed run wrote epoch 2 again).
            bytes = File.ReadAllBytes(newest);
            File.WriteAllBytes(newest, bytes.AsSpan(0, bytes.Length - 100).ToArray());
            resumed = Train(Options(folder, 3, UnfreezeSchedule.Gradual(1, 1)));
            Assert.IsTrue(resumed.Log.Any(l => l.StartsWith("Checkpoint epoch-0002.ckpt is damaged")), Log(resumed));
            Assert.AreEqual(1, resumed.ResumedAfterEpoch);
            AssertSameRun(UninterruptedPlanned.Value, resumed);

            // With every generation damaged there is nothing to resume, and the error names them.
            foreach (var file in Directory.GetFiles(folder, "*.ckpt"))
                File.WriteAllBytes(file, new byte[] { 1, 2, 3 });
            var error = Assert.ThrowsExactly<InvalidDataException>(
                () => Train(Options(folder, 3, UnfreezeSchedule.Gradual(1, 1))));
            StringAssert.Contains(error.Message, "epoch-0001.ckpt");
            StringAssert.Contains(error.Message, "epoch-0002.ckpt");
        }

        [TestMethod]
        public void CancelledRunLeavesAResumableCheckpoint()
        {
            string folder = NewFolder();
            using var cancel = new CancellationTokenSource();
            var options = Options(folder, 3, UnfreezeSchedule.Gradual(1, 1)) with { CancellationToken = cancel.Token };
            Assert.ThrowsExactly<OperationCanceledException>(() => Train(options, onBatch: progress =>
            {
                if (progress.Epoch == 2)
                    cancel.Cancel();
            }));
            var resumed = Train(Options(folder, 3, UnfreezeSchedule.Gradual(1, 1)));
            Assert.AreEqual(1, resumed.ResumedAfterEpoch);
            AssertSameRun(UninterruptedPlanned.Value, resumed);
        }
    }
}

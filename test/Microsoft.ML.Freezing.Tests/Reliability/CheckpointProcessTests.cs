// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests.Reliability
{
    /// <summary>
    /// Training that survives its process: the FuzzHost's <c>train</c> mode (test/Microsoft.ML.Freezing.FuzzHost,
    /// CheckpointRun.cs) trains through the ML.NET trainer with a checkpoint folder, Auto unfreezing and a validation
    /// split. A child that fails fast after its second epoch, or is killed (SIGKILL) while the real checkpoint writer
    /// is half way through a file, is resumed by a new process that trains only the remaining epochs and scores like
    /// the run that was never interrupted.
    /// </summary>
    [TestClass]
    public sealed class CheckpointProcessTests
    {
        private const int Epochs = 4;
        private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);
        private static string _root;
        private static Child _uninterrupted;

        private sealed record Child(int ExitCode, List<string> Lines, string Stderr, float[] Scores);

        [ClassInitialize]
        public static void Start(TestContext context)
        {
            _root = Path.Combine(Path.GetTempPath(),
                "frozen-resnet-checkpoint-processes-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(_root);
        }

        [ClassCleanup]
        public static void Remove()
        {
            if (_root != null && Directory.Exists(_root))
                Directory.Delete(_root, recursive: true);
        }

        private static string HostDll()
        {
            string configuration = AppContext.BaseDirectory.Contains(
                $"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";
            string dll = Path.Combine(RepoPaths.Root, "test", "Microsoft.ML.Freezing.FuzzHost", "bin", configuration,
                "net10.0", "Microsoft.ML.Freezing.FuzzHost.dll");
            Assert.IsTrue(File.Exists(dll), $"{dll} was not built");
            return dll;
        }

        /// <summary>
        /// Runs a training child; with <paramref name="killWhen"/>, kills it (SIGKILL) as soon as that file exists.
        /// </summary>
        private static Child Train(string folder, int failAfter = -1, int pauseAt = -1, string killWhen = null)
        {
            string scores = folder + $".{Guid.NewGuid():N}.scores";
            var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { HostDll(), "train", folder, Epochs.ToString(CultureInfo.InvariantCulture),
                failAfter.ToString(CultureInfo.InvariantCulture), scores })
                start.ArgumentList.Add(a);
            start.Environment["DOTNET_DbgEnableMiniDump"] = "0";
            if (pauseAt >= 0)
                start.Environment[CheckpointStore.PauseVariable] = pauseAt.ToString(CultureInfo.InvariantCulture);
            var lines = new List<string>();
            using var process = new Process { StartInfo = start };
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data != null) lock (lines) lines.Add(e.Data);
            };
            process.Start();
            process.BeginOutputReadLine();
            var stderr = process.StandardError.ReadToEndAsync();
            var clock = Stopwatch.StartNew();
            while (!process.WaitForExit(100))
            {
                if (killWhen != null && File.Exists(killWhen))
                {
                    process.Kill(); // SIGKILL: no handler, no finally block runs
                    process.WaitForExit();
                    break;
                }
                if (clock.Elapsed > Limit)
                {
                    process.Kill(entireProcessTree: true);
                    Assert.Fail($"the training child timed out; output:\n{string.Join("\n", lines)}");
                }
            }
            process.WaitForExit();
            var values = File.Exists(scores)
                ? File.ReadAllLines(scores).Select(l => float.Parse(l, CultureInfo.InvariantCulture)).ToArray()
                : null;
            lock (lines) return new Child(process.ExitCode, lines.ToList(), stderr.Result, values);
        }

        private static Child Uninterrupted()
        {
            if (_uninterrupted == null)
            {
                _uninterrupted = Train(Path.Combine(_root, "uninterrupted"));
                Assert.AreEqual(0, _uninterrupted.ExitCode, Describe(_uninterrupted));
                CollectionAssert.AreEqual(new[] { "EPOCH 0", "EPOCH 1", "EPOCH 2", "EPOCH 3" }, Epoch(_uninterrupted),
                    Describe(_uninterrupted));
            }
            return _uninterrupted;
        }

        private static string[] Epoch(Child child) => child.Lines.Where(l => l.StartsWith("EPOCH ")).ToArray();

        private static string Describe(Child child)
            => $"exit {child.ExitCode}\n{string.Join("\n", child.Lines)}\n{child.Stderr}";

        /// <summary>
        /// The resumed child trained epochs 2 and 3 only, said so, and scores like the uninterrupted one.
        /// </summary>
        private static void AssertResumedAfterEpoch1(Child resumed)
        {
            Assert.AreEqual(0, resumed.ExitCode, Describe(resumed));
            CollectionAssert.AreEqual(new[] { "EPOCH 2", "EPOCH 3" }, Epoch(resumed), Describe(resumed));
            Assert.IsTrue(resumed.Lines.Any(l => l.Contains("Resuming from checkpoint") && l.Contains("after epoch 1")),
                Describe(resumed));
            var history = resumed.Lines.Where(l => l.StartsWith("HISTORY ")).Select(l => l.Split(' ')[2]).ToArray();
            CollectionAssert.AreEqual(new[] { "True", "True", "False", "False" }, history, "FromCheckpoint per epoch");
            var expected = Uninterrupted();
            CollectionAssert.AreEqual(expected.Lines.Where(l => l.StartsWith("HISTORY ")).Select(Losses).ToArray(),
                resumed.Lines.Where(l => l.StartsWith("HISTORY ")).Select(Losses).ToArray(), "losses per epoch");
            Assert.HasCount(expected.Scores.Length, resumed.Scores);
            double worst = expected.Scores.Zip(resumed.Scores, (a, b) => Math.Abs((double)a - b)).Max();
            Console.WriteLine(
                $"{resumed.Scores.Length} scores; largest difference from the uninterrupted run: {worst:G3}");
            Assert.IsLessThanOrEqualTo(1e-5, worst);
        }

        private static string Losses(string historyLine) => string.Join(" ", historyLine.Split(' ').Skip(3));

        [TestMethod]
        public void ProcessThatFailsFastAfterItsSecondEpochIsResumedByANewProcess()
        {
            string folder = Path.Combine(_root, "fail-fast");
            var crashed = Train(folder, failAfter: 1);
            Assert.AreNotEqual(0, crashed.ExitCode, Describe(crashed));
            StringAssert.Contains(crashed.Stderr, "failing fast after epoch 1");
            CollectionAssert.AreEqual(new[] { "EPOCH 0", "EPOCH 1" }, Epoch(crashed), Describe(crashed));
            Assert.IsTrue(File.Exists(Path.Combine(folder, "epoch-0001.ckpt")));

            AssertResumedAfterEpoch1(Train(folder));
        }

        [TestMethod]
        public void ProcessKilledWhileWritingACheckpointLeavesThePreviousGenerationUsable()
        {
            string folder = Path.Combine(_root, "killed");
            string partial = Path.Combine(folder, "epoch-0002.ckpt.tmp");
            var killed = Train(folder, pauseAt: 2, killWhen: partial + ".paused");
            Assert.AreEqual(137, killed.ExitCode, Describe(killed)); // 128 + SIGKILL
            Assert.IsTrue(File.Exists(partial), "the half-written generation should be on disk");
            Assert.IsFalse(File.Exists(Path.Combine(folder, "epoch-0002.ckpt")));
            Assert.IsTrue(File.Exists(Path.Combine(folder, "epoch-0001.ckpt")));

            var resumed = Train(folder);
            Assert.IsTrue(resumed.Lines.Any(l => l.Contains("Removing epoch-0002.ckpt.tmp")), Describe(resumed));
            AssertResumedAfterEpoch1(resumed);
        }
    }
}

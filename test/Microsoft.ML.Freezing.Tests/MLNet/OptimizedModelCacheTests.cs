// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Freezing.Tests.Reliability;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests.MLNet
{
    /// <summary>
    /// A loaded model's ONNX Runtime session is built from the optimised graph a previous load wrote
    /// (<see cref="OptimizedModelCache"/>): same scores, one file per model and machine, and a damaged file is
    /// replaced.
    /// </summary>
    [TestClass]
    public sealed class OptimizedModelCacheTests
    {
        private string _home;
        private string _previousHome;

        [TestInitialize]
        public void UseAnEmptyHome()
        {
            _previousHome = Environment.GetEnvironmentVariable("FREEZING_HOME");
            _home = Path.Combine(Path.GetTempPath(), $"freezing-ort-cache-{Guid.NewGuid():N}");
            Environment.SetEnvironmentVariable("FREEZING_HOME", _home);
        }

        [TestCleanup]
        public void RestoreHome()
        {
            Environment.SetEnvironmentVariable("FREEZING_HOME", _previousHome);
            Directory.Delete(_home, recursive: true);
        }

        private static float[][] ScoresOfAFreshLoad(MLContext ml, IDataView data)
        {
            var loaded = ml.Model.Load(TinyModel.Zip, out _);
            try
            {
                return loaded.Transform(data).GetColumn<float[]>("Score").ToArray();
            }
            finally
            {
                (loaded as IDisposable)?.Dispose();
            }
        }

        private string[] CachedGraphs()
            => Directory.Exists(OptimizedModelCache.Folder)
                ? Directory.GetFiles(OptimizedModelCache.Folder) : Array.Empty<string>();

        // The graph, its checksums and its data file: the one entry of a model.
        private static string[] EntryOf(string graph)
        {
            var dataName = File.ReadAllLines(OptimizedModelCache.ChecksumPath(graph))[1].Split(' ')[1];
            return new[] { graph, OptimizedModelCache.ChecksumPath(graph),
                Path.Combine(OptimizedModelCache.Folder, dataName) };
        }

        [TestMethod]
        public void ASecondLoadScoresFromTheOptimisedGraphTheFirstWrote()
        {
            if (!File.Exists("/proc/cpuinfo"))
            {
                // The cache identifies the CPU by /proc/cpuinfo; elsewhere it is off.
                Assert.IsNull(OptimizedModelCache.PathOf(new byte[] { 1, 2, 3 }));
                return;
            }
            StringAssert.StartsWith(OptimizedModelCache.Folder, _home);
            var ml = new MLContext(seed: 1);
            var data = ml.Data.LoadFromEnumerable(GeneratedImages.Stripes(6, seed: 3));

            var first = ScoresOfAFreshLoad(ml, data);
            var written = CachedGraphs().Where(f => f.EndsWith(".onnx", StringComparison.Ordinal)).ToArray();
            Assert.HasCount(1, written, "one optimised graph");
            var entry = EntryOf(written[0]);
            CollectionAssert.AreEquivalent(entry, CachedGraphs(),
                "the graph, its checksums and its data file, no temporary file left");
            var weights = File.ReadAllBytes(entry[2]);
            Assert.IsGreaterThan(new FileInfo(written[0]).Length * 10, weights.LongLength,
                "the weights lie in the data file, not in the graph");
            var writtenAt = new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc);
            File.SetLastWriteTimeUtc(written[0], writtenAt);

            var second = ScoresOfAFreshLoad(ml, data);
            CollectionAssert.AreEquivalent(entry, CachedGraphs(), "the same entry, used as it was");
            Assert.IsTrue(File.GetLastWriteTimeUtc(written[0]) > writtenAt, "a use marks the graph as recent");
            for (int i = 0; i < first.Length; i++)
                CollectionAssert.AreEqual(first[i], second[i], $"row {i}: the same graph, the same scores");

            // A damaged graph (half of it) is deleted with its data file and written again.
            long length = new FileInfo(written[0]).Length;
            using (var file = new FileStream(written[0], FileMode.Open))
                file.SetLength(length / 2);
            var third = ScoresOfAFreshLoad(ml, data);
            Assert.AreEqual(length, new FileInfo(written[0]).Length, "written again whole");
            var rewritten = EntryOf(written[0]);
            CollectionAssert.AreEquivalent(rewritten, CachedGraphs(), "the damaged entry's data file is gone");
            Assert.AreNotEqual(entry[2], rewritten[2], "a data file is never rewritten in place");
            CollectionAssert.AreEqual(weights, File.ReadAllBytes(rewritten[2]), "the same weights written again");
            for (int i = 0; i < first.Length; i++)
                CollectionAssert.AreEqual(first[i], third[i], $"row {i} after the damaged graph");

            // One flipped bit inside the weights would still load and score wrong: the checksum catches it.
            var damaged = File.ReadAllBytes(rewritten[2]);
            damaged[damaged.Length / 2] ^= 0x40;
            File.WriteAllBytes(rewritten[2], damaged);
            var fourth = ScoresOfAFreshLoad(ml, data);
            var replaced = EntryOf(written[0]);
            Assert.IsFalse(File.Exists(rewritten[2]), "the flipped data file was deleted");
            CollectionAssert.AreEqual(weights, File.ReadAllBytes(replaced[2]), "and written again whole");
            for (int i = 0; i < first.Length; i++)
                CollectionAssert.AreEqual(first[i], fourth[i], $"row {i} after the flipped bit");
        }
    }
}

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
            CollectionAssert.AreEquivalent(new[] { written[0], OptimizedModelCache.ChecksumPath(written[0]) },
                CachedGraphs(), "the graph and its checksum, no temporary file left");
            var original = File.ReadAllBytes(written[0]);
            var writtenAt = new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc);
            File.SetLastWriteTimeUtc(written[0], writtenAt);

            var second = ScoresOfAFreshLoad(ml, data);
            CollectionAssert.AreEquivalent(new[] { written[0], OptimizedModelCache.ChecksumPath(written[0]) },
                CachedGraphs());
            Assert.IsTrue(File.GetLastWriteTimeUtc(written[0]) > writtenAt, "a use marks the graph as recent");
            for (int i = 0; i < first.Length; i++)
                CollectionAssert.AreEqual(first[i], second[i], $"row {i}: the same graph, the same scores");

            // A damaged graph (half of it) is deleted and written again.
            long length = new FileInfo(written[0]).Length;
            using (var file = new FileStream(written[0], FileMode.Open))
                file.SetLength(length / 2);
            var third = ScoresOfAFreshLoad(ml, data);
            Assert.AreEqual(length, new FileInfo(written[0]).Length, "written again whole");
            for (int i = 0; i < first.Length; i++)
                CollectionAssert.AreEqual(first[i], third[i], $"row {i} after the damaged graph");

            // One flipped bit inside the weights still parses and would score wrong: the checksum catches it.
            var damaged = File.ReadAllBytes(written[0]);
            CollectionAssert.AreEqual(original, damaged, "the rewritten graph is the first one");
            damaged[damaged.Length / 2] ^= 0x40;
            File.WriteAllBytes(written[0], damaged);
            var fourth = ScoresOfAFreshLoad(ml, data);
            CollectionAssert.AreEqual(original, File.ReadAllBytes(written[0]), "the flipped graph was replaced");
            for (int i = 0; i < first.Length; i++)
                CollectionAssert.AreEqual(first[i], fourth[i], $"row {i} after the flipped bit");
        }
    }
}

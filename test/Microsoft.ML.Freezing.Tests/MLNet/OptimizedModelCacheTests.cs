// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Freezing.Tests.Reliability;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing.Tests.MLNet
{
    /// <summary>
    /// A loaded model's ONNX Runtime session is built from the optimised graph a previous load wrote
    /// (<see cref="OptimizedModelCache"/>): same scores, one file per model and machine, and a damaged file is
    /// replaced. The trainer's frozen prefix reuses the graph of the same prefix weights, and only that.
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

        [TestMethod]
        public void TheFrozenPrefixReusesTheGraphOfTheSamePrefixWeightsAndOnlyThose()
        {
            Assert.IsTrue(File.Exists("/proc/cpuinfo"), "the cache identifies the CPU by /proc/cpuinfo (Linux)");
            using var network = new ResNet(TestData.TinyDefinition(), seed: 3);
            network.eval();
            using var images = TestData.RandomImages(2, seed: 5);
            using var batch = images.GetBatch(new[] { 0, 1 });
            var parameters = network.named_parameters().ToDictionary(p => p.name, p => p.parameter);

            var (fresh, freshOutputs) = RunPrefix(network, batch.Images);
            Assert.IsFalse(fresh, "an empty cache: exported and optimised now");
            var graphs = CachedGraphs().Where(f => f.EndsWith(".onnx", StringComparison.Ordinal)).ToArray();
            Assert.HasCount(1, graphs, "the optimised prefix was kept");
            CollectionAssert.AreEquivalent(EntryOf(graphs[0]), CachedGraphs(), "one whole entry");

            var (kept, keptOutputs) = RunPrefix(network, batch.Images);
            Assert.IsTrue(kept, "the same weights: the kept graph");
            AssertSameOutputs(freshOutputs, keptOutputs, equal: true);

            using (no_grad())
                parameters["fc.weight"].add_(1); // the head is not in the prefix
            var (headChanged, headOutputs) = RunPrefix(network, batch.Images);
            Assert.IsTrue(headChanged, "another head: the same prefix graph");
            AssertSameOutputs(freshOutputs, headOutputs, equal: true);

            using (no_grad())
                parameters["layer1.0.conv1.weight"].mul_(1.5);
            var (changed, changedOutputs) = RunPrefix(network, batch.Images);
            Assert.IsFalse(changed, "a changed prefix weight is never served from the old graph");
            Assert.HasCount(2, CachedGraphs().Where(f => f.EndsWith(".onnx", StringComparison.Ordinal)).ToArray());
            AssertSameOutputs(freshOutputs, changedOutputs, equal: false);
            foreach (var outputs in new[] { freshOutputs, keptOutputs, headOutputs, changedOutputs })
                foreach (var tensor in outputs.Values)
                    tensor.Dispose();
        }

        private static (bool FromCache, Dictionary<ResNetStage, Tensor> Outputs) RunPrefix(ResNet network,
            Tensor images)
        {
            using var prefix = OnnxRuntimePrefix.Create(network, ResNetStage.Layer4, new[] { ResNetStage.Layer1 },
                32, 32, threads: 1);
            return (prefix.FromCache, prefix.Run(images));
        }

        private static void AssertSameOutputs(Dictionary<ResNetStage, Tensor> expected,
            Dictionary<ResNetStage, Tensor> actual, bool equal)
        {
            CollectionAssert.AreEquivalent(new[] { ResNetStage.Layer1, ResNetStage.Layer4 }, actual.Keys.ToArray());
            foreach (var stage in expected.Keys)
                Assert.AreEqual(equal, ScoreComparison.RelativeDifference(expected[stage], actual[stage]) == 0,
                    $"{stage.Name()}: outputs equal");
        }
    }
}

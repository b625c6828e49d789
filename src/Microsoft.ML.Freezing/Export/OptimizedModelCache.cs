// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using Microsoft.ML.OnnxRuntime;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// ONNX Runtime's optimised graphs of saved models, kept on disk (<c>onnxruntime/</c> under
    /// <see cref="FreezingPaths.Home"/>), so that a serving process does not export and optimise its model again at
    /// every start.
    /// </summary>
    /// <remarks>
    /// A session at <see cref="GraphOptimizationLevel.ORT_ENABLE_ALL"/> spent most of a cold start's first prediction
    /// optimising the graph (ResNet-18 on a 2-core AMD EPYC: 0.86 s to build the session, 0.41 s from the optimised
    /// graph with optimisation off, the same 12 ms a prediction after). The optimised graph is specific to the CPU
    /// (NCHWc blocking) and to ONNX Runtime's version, so an entry is named by a hash of what the export reads (the
    /// saved weights' bytes, the network, the preprocessing, the export options, this library's build), ONNX Runtime's
    /// version and the CPU's model name and flags: a hit needs no export. An entry is a small graph
    /// (<c>KEY.onnx</c>) whose weights lie in a data file beside it (<c>KEY.ID.data</c>, large tensors at 4 KB-aligned
    /// offsets), which ONNX Runtime maps into memory instead of parsing and copying them: building the session took
    /// 0.45 s with the weights inside the graph and 0.04 s mapped (ResNet-18 on the VP2INTERSECT VM, where a page
    /// fault on fresh memory costs about 12 µs and the two copies cost 25,000 of them). Written under temporary names
    /// and renamed, so a reader never sees half a graph, and a data file is never rewritten (each build writes its
    /// own <c>ID</c>), so a session mapping one never sees it change. Beside the graph, <c>.sha256</c> holds the
    /// SHA-256 of the graph and of its data file (and the data file's name), checked at every load, because a damaged
    /// weight would still load and score wrong without a word. An entry that fails the check or does not load is
    /// deleted and the model optimised again. The <see cref="Kept"/> most recently used entries stay. Saved models
    /// use it, and the trainer's frozen prefix (<see cref="OnnxRuntimePrefix"/>), keyed by the prefix's own weights:
    /// a run that starts from the same pretrained network as an earlier one reuses its graph.
    /// </remarks>
    internal static class OptimizedModelCache
    {
        /// <summary>How many optimised graphs stay on disk (about 47 MB each for ResNet-18).</summary>
        public const int Kept = 4;

        // Part of every key: a change of the entries' layout makes the old ones unused (and pruned in time).
        private const string Layout = "graph+mapped-data v1";

        /// <summary>The folder of the optimised graphs.</summary>
        public static string Folder => Path.Combine(FreezingPaths.Home, "onnxruntime");

        private static readonly Lazy<string> Machine = new Lazy<string>(MachineIdentity);

        /// <summary>
        /// The graph file of <paramref name="weights"/> exported with <paramref name="options"/> and
        /// <paramref name="preprocessing"/> on this machine (which may not exist); null where the CPU cannot be
        /// identified (no <c>/proc/cpuinfo</c>), so nothing is cached.
        /// </summary>
        public static string PathOf(SavedWeights weights, ImagePreprocessing preprocessing, OnnxExportOptions options)
        {
            using var description = new MemoryStream();
            using (var writer = new BinaryWriter(description, Encoding.UTF8, leaveOpen: true))
            {
                var definition = weights.Definition;
                writer.Write($"{definition.BlockType} [{string.Join(",", definition.Depths)}] {definition.Variant} " +
                    $"{definition.BatchNormEpsilon:R} {definition.ConvBias} {definition.NumClasses}");
                writer.Write($"{options.InputName}|{options.OutputName}|{options.InputLayout}|{options.Output}|" +
                    $"{options.FeatureStage}|{options.NormalizedInput}|{options.Description}|" +
                    string.Join("|", options.ClassNames ?? Array.Empty<string>()));
                preprocessing.Save(writer);
            }
            // The weights by the hash the load verified them against, when it did (hashing 45 MB again: 30 ms).
            return PathOf(description.GetBuffer().AsSpan(0, (int)description.Length),
                weights.Sha256 ?? weights.State.Buffer);
        }

        /// <summary>The graph file for a model identified by the bytes of <paramref name="description"/> and
        /// <paramref name="weights"/> (or their hash) with this library's build on this machine; null where the CPU
        /// cannot be identified.</summary>
        internal static string PathOf(ReadOnlySpan<byte> description, ReadOnlySpan<byte> weights = default)
        {
            if (Machine.Value == null)
                return null;
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            hash.AppendData(Encoding.UTF8.GetBytes(Layout + "|" +
                typeof(OptimizedModelCache).Assembly.ManifestModule.ModuleVersionId));
            hash.AppendData(description);
            hash.AppendData(weights);
            hash.AppendData(Encoding.UTF8.GetBytes(Machine.Value));
            return Path.Combine(Folder, Hex(hash.GetHashAndReset()) + ".onnx");
        }

        private static string Hex(byte[] hash) => Convert.ToHexString(hash).ToLowerInvariant();

        private static string HashOf(string path)
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
            return Hex(SHA256.HashData(file));
        }

        /// <summary>A unique temporary name in the folder for a graph ONNX Runtime is about to write; null when the
        /// folder cannot be created.</summary>
        public static string TemporaryPath()
        {
            try
            {
                Directory.CreateDirectory(Folder);
                return Path.Combine(Folder, $"{Guid.NewGuid():N}.tmp");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return null;
            }
        }

        /// <summary>A new name (no folder) for the data file of the graph to be written at <paramref name="path"/>:
        /// each build writes its own, so that no data file a session maps is ever rewritten.</summary>
        public static string NewDataName(string path)
            => $"{Path.GetFileNameWithoutExtension(path)}.{Guid.NewGuid():N}.data";

        /// <summary>The file beside <paramref name="path"/> holding the SHA-256 of the graph and of its data file.
        /// </summary>
        public static string ChecksumPath(string path) => path + ".sha256";

        // The checksum file: the graph's SHA-256 on the first line; the data file's SHA-256 and name on the second.
        private static (string Graph, string Data, string DataName)? ReadChecksums(string path)
        {
            try
            {
                var lines = File.ReadAllLines(ChecksumPath(path));
                var data = lines.Length == 2 ? lines[1].Split(' ') : null;
                if (data?.Length != 2 || data[1].IndexOfAny(Path.GetInvalidFileNameChars()) >= 0)
                    return null;
                return (lines[0], data[0], data[1]);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return null;
            }
        }

        /// <summary>
        /// Whether the graph at <paramref name="path"/> and its data file match their checksums; when not (missing,
        /// damaged, or unreadable), the entry is deleted.
        /// </summary>
        /// <remarks>Streamed through a small buffer: reading the weights into one array cost a cold start 0.1-0.2 s on
        /// a VM with slow page faults.</remarks>
        public static bool Verify(string path)
        {
            try
            {
                var expected = ReadChecksums(path);
                if (expected is { } sums && string.Equals(HashOf(path), sums.Graph, StringComparison.Ordinal)
                    && string.Equals(HashOf(Path.Combine(Folder, sums.DataName)), sums.Data, StringComparison.Ordinal))
                    return true;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Unreadable or half there: optimised again.
            }
            Forget(path);
            return false;
        }

        /// <summary>Moves a written graph (whose weights ONNX Runtime wrote to <paramref name="dataName"/>) to its
        /// name, its checksums first, and drops the least recently used beyond <see cref="Kept"/> (and abandoned
        /// temporary and data files); a failure leaves the cache as it was.</summary>
        public static void Commit(string temporary, string dataName, string path)
        {
            string data = Path.Combine(Folder, dataName);
            try
            {
                if (File.Exists(temporary) && File.Exists(data))
                {
                    string checksum = temporary + ".sha256.tmp";
                    File.WriteAllLines(checksum, new[] { HashOf(temporary), $"{HashOf(data)} {dataName}" });
                    Forget(path);
                    File.Move(checksum, ChecksumPath(path), overwrite: true);
                    File.Move(temporary, path, overwrite: true);
                }
                Prune();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Forget(temporary);
                TryDelete(data);
            }
        }

        // Keeps the Kept most recent entries; a temporary or data file an hour old that no entry names belongs to a
        // process that died while writing it.
        private static void Prune()
        {
            var folder = new DirectoryInfo(Folder);
            foreach (var file in folder.GetFiles("*.onnx").OrderByDescending(f => f.LastWriteTimeUtc).Skip(Kept))
                Forget(file.FullName);
            var named = folder.GetFiles("*.onnx").Select(f => ReadChecksums(f.FullName)?.DataName)
                .Where(n => n != null).ToHashSet(StringComparer.Ordinal);
            var hourAgo = DateTime.UtcNow.AddHours(-1);
            foreach (var file in folder.GetFiles("*.tmp").Concat(folder.GetFiles("*.data")))
            {
                if (file.LastWriteTimeUtc < hourAgo && !named.Contains(file.Name))
                    TryDelete(file.FullName);
            }
        }

        /// <summary>Marks a graph as used now (the least recently used go first).</summary>
        public static void Touch(string path)
        {
            try
            {
                File.SetLastWriteTimeUtc(path, DateTime.UtcNow);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Read-only: it may be dropped earlier than it should, and is written again then.
            }
        }

        /// <summary>Deletes a graph, its checksum and the data file the checksum names (or a temporary file), if they
        /// are there. A session that maps the data file keeps reading it: the file lives on until it is unmapped.
        /// </summary>
        public static void Forget(string path)
        {
            if (path == null)
                return;
            if (path.EndsWith(".onnx", StringComparison.Ordinal))
            {
                if (ReadChecksums(path) is { } sums)
                    TryDelete(Path.Combine(Folder, sums.DataName));
                TryDelete(ChecksumPath(path));
            }
            TryDelete(path);
        }

        private static void TryDelete(string path)
        {
            try
            {
                File.Delete(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Left for the next prune.
            }
        }

        // ONNX Runtime's version and the CPU (model name and flags): what the optimised graph depends on besides the
        // model; null when the CPU cannot be read.
        private static string MachineIdentity()
        {
            try
            {
                var cpu = File.ReadLines("/proc/cpuinfo")
                    .Where(l => l.StartsWith("model name", StringComparison.Ordinal)
                        || l.StartsWith("flags", StringComparison.Ordinal))
                    .Take(2).ToArray();
                if (cpu.Length < 2)
                    return null;
                return string.Join("|", cpu.Prepend(OrtEnv.Instance().GetVersionString()));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return null;
            }
        }
    }
}

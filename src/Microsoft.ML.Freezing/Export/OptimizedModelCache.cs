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
    /// <see cref="FreezingPaths.Home"/>), so that a serving process does not optimise its model again at every start.
    /// </summary>
    /// <remarks>
    /// A session at <see cref="GraphOptimizationLevel.ORT_ENABLE_ALL"/> spent most of a cold start's first prediction
    /// optimising the graph (ResNet-18 on a 2-core AMD EPYC: 0.86 s to build the session, 0.41 s from the optimised
    /// graph with optimisation off, the same 12 ms a prediction after). The optimised graph is specific to the CPU
    /// (NCHWc blocking) and to ONNX Runtime's version, so a file is named by a hash of the model's bytes, ONNX
    /// Runtime's version and the CPU's model name and flags. Written to a temporary name and renamed, so a reader never
    /// sees half a file; beside it, <c>.sha256</c> holds the SHA-256 of its bytes, checked at every load, because a
    /// damaged weight would still load and score wrong without a word. A file that fails the check or does not load is
    /// deleted and the model optimised again. The <see cref="Kept"/> most recently used files stay. Only saved models
    /// use it: a live network's weights change with every epoch.
    /// </remarks>
    internal static class OptimizedModelCache
    {
        /// <summary>How many optimised graphs stay on disk (about 47 MB each for ResNet-18).</summary>
        public const int Kept = 4;

        /// <summary>The folder of the optimised graphs.</summary>
        public static string Folder => Path.Combine(FreezingPaths.Home, "onnxruntime");

        private static readonly Lazy<string> Machine = new Lazy<string>(MachineIdentity);

        /// <summary>The file of <paramref name="model"/>'s optimised graph on this machine (which may not exist); null
        /// where the CPU cannot be identified (no <c>/proc/cpuinfo</c>), so nothing is cached.</summary>
        public static string PathOf(byte[] model)
        {
            if (Machine.Value == null)
                return null;
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            hash.AppendData(model);
            hash.AppendData(Encoding.UTF8.GetBytes(Machine.Value));
            return Path.Combine(Folder, Hex(hash.GetHashAndReset()) + ".onnx");
        }

        private static string Hex(byte[] hash) => Convert.ToHexString(hash).ToLowerInvariant();

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

        /// <summary>The file beside <paramref name="path"/> holding the SHA-256 of its bytes, in hex.</summary>
        public static string ChecksumPath(string path) => path + ".sha256";

        /// <summary>
        /// Whether the graph at <paramref name="path"/> matches its checksum; when not (missing, damaged, or
        /// unreadable), the graph and its checksum are deleted.
        /// </summary>
        /// <remarks>Streamed through a small buffer: reading the graph into one array cost a cold start 0.1-0.2 s on a
        /// VM with slow page faults.</remarks>
        public static bool Verify(string path)
        {
            try
            {
                string expected = File.ReadAllText(ChecksumPath(path)).Trim();
                using var graph = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
                if (string.Equals(Hex(SHA256.HashData(graph)), expected, StringComparison.Ordinal))
                    return true;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Unreadable or half there: optimised again.
            }
            Forget(path);
            return false;
        }

        /// <summary>Moves a written graph to its name (its checksum first) and drops the least recently used beyond
        /// <see cref="Kept"/> (and abandoned temporary files); a failure leaves the cache as it was.</summary>
        public static void Commit(string temporary, string path)
        {
            try
            {
                if (File.Exists(temporary))
                {
                    string checksum = temporary + ".sha256.tmp";
                    using (var graph = File.OpenRead(temporary))
                        File.WriteAllText(checksum, Hex(SHA256.HashData(graph)));
                    File.Move(checksum, ChecksumPath(path), overwrite: true);
                    File.Move(temporary, path, overwrite: true);
                }
                var folder = new DirectoryInfo(Folder);
                var unused = folder.GetFiles("*.onnx").OrderByDescending(f => f.LastWriteTimeUtc).Skip(Kept);
                // A temporary file an hour old belongs to a process that died while writing it.
                var abandoned = folder.GetFiles("*.tmp").Where(f => f.LastWriteTimeUtc < DateTime.UtcNow.AddHours(-1));
                foreach (var file in unused)
                    Forget(file.FullName);
                foreach (var file in abandoned)
                    file.Delete();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Forget(temporary);
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

        /// <summary>Deletes a file, and a graph's checksum, if they are there.</summary>
        public static void Forget(string path)
        {
            try
            {
                if (path == null)
                    return;
                File.Delete(path);
                if (path.EndsWith(".onnx", StringComparison.Ordinal))
                    File.Delete(ChecksumPath(path));
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

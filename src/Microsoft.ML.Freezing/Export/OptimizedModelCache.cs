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
    /// sees half a file; a file that does not load is deleted and the model optimised again. The <see cref="Kept"/>
    /// most recently used files stay. Only saved models use it: a live network's weights change with every epoch.
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
            return Path.Combine(Folder, Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant() + ".onnx");
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

        /// <summary>Moves a written graph to its name and drops the least recently used beyond <see cref="Kept"/> (and
        /// abandoned temporary files); a failure leaves the cache as it was.</summary>
        public static void Commit(string temporary, string path)
        {
            try
            {
                if (File.Exists(temporary))
                    File.Move(temporary, path, overwrite: true);
                var folder = new DirectoryInfo(Folder);
                var unused = folder.GetFiles("*.onnx").OrderByDescending(f => f.LastWriteTimeUtc).Skip(Kept);
                // A temporary file an hour old belongs to a process that died while writing it.
                var abandoned = folder.GetFiles("*.tmp").Where(f => f.LastWriteTimeUtc < DateTime.UtcNow.AddHours(-1));
                foreach (var file in unused.Concat(abandoned))
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

        /// <summary>Deletes a file if it is there.</summary>
        public static void Forget(string path)
        {
            try
            {
                if (path != null)
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

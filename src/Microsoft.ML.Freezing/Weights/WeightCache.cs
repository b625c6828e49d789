// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;
using System.Security.Cryptography;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Converted weights, cached in TorchSharp format in a user-visible folder, keyed by the source file's hash, so a
    /// conversion runs once per source file. Safe when two processes convert at once: each writes a temporary file in
    /// the cache folder and renames it into place. When that folder cannot be written (a read-only or missing home
    /// folder, as in some containers and services), conversions go to <see cref="FallbackFolder"/> instead.
    /// </summary>
    internal static class WeightCache
    {
        /// <summary>The cache folder (created on first use): <see cref="FreezingPaths.Weights"/>.</summary>
        public static string Folder => FreezingPaths.Weights;

        /// <summary>
        /// Where conversions go when <see cref="Folder"/> cannot be written:
        /// <see cref="FreezingPaths.TemporaryHome"/><c>/weights</c>.
        /// </summary>
        public static string FallbackFolder => Path.Combine(FreezingPaths.TemporaryHome, "weights");

        /// <summary>
        /// The cached conversion of <paramref name="sourcePath"/> by <paramref name="converter"/> (a short name that
        /// changes when the conversion does), converting and caching it first when needed.
        /// </summary>
        public static PretrainedWeights GetOrConvert(string sourcePath, string converter, string description,
            Func<ConvertedWeights> convert)
        {
            string name = $"{converter}-{Hash(sourcePath)}.weights";
            foreach (string folder in new[] { Folder, FallbackFolder })
            {
                string cached = Path.Combine(folder, name);
                if (File.Exists(cached))
                {
                    try
                    {
                        return WeightsFile.Read(cached, description);
                    }
                    catch (InvalidDataException)
                    {
                        // A damaged cache entry is rebuilt below, never trusted.
                    }
                }
                // A read-only or missing home folder: the fallback serves instead.
                if (!IsWritable(folder))
                    continue;
                using (var weights = convert())
                    Write(weights, cached);
                return WeightsFile.Read(cached, description);
            }
            throw new IOException($"Neither '{Folder}' nor '{FallbackFolder}' can be written to cache {description}.");
        }

        private static bool IsWritable(string folder)
        {
            try
            {
                Directory.CreateDirectory(folder);
                string probe = Path.Combine(folder, $".probe.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
                File.WriteAllBytes(probe, Array.Empty<byte>());
                File.Delete(probe);
                return true;
            }
            catch (Exception ex) when (ex is UnauthorizedAccessException or IOException)
            {
                return false;
            }
        }

        private static void Write(ConvertedWeights weights, string cached)
        {
            string folder = Path.GetDirectoryName(cached);
            Directory.CreateDirectory(folder);
            string temp = Path.Combine(folder,
                $".{Path.GetFileName(cached)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
            try
            {
                WeightsFile.Write(temp, weights);
                File.Move(temp, cached, overwrite: true);
            }
            finally
            {
                if (File.Exists(temp)) File.Delete(temp);
            }
        }

        /// <summary>SHA-256 of a file's bytes, hex, first 16 characters (enough to tell files apart).</summary>
        public static string Hash(string path)
        {
            using var stream = File.OpenRead(path);
            return Convert.ToHexString(SHA256.HashData(stream)).Substring(0, 16).ToLowerInvariant();
        }
    }
}

using System;
using System.IO;
using System.Security.Cryptography;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Converted weights, cached in TorchSharp format in a user-visible folder, keyed by the source file's hash, so a
    /// conversion runs once per source file. Safe when two processes convert at once: each writes a temporary file in
    /// the cache folder and renames it into place.
    /// </summary>
    public static class WeightCache
    {
        /// <summary>The cache folder (created on first use): <see cref="FreezingPaths.Weights"/>.</summary>
        public static string Folder => FreezingPaths.Weights;

        /// <summary>
        /// The cached conversion of <paramref name="sourcePath"/> by <paramref name="converter"/> (a short name that
        /// changes when the conversion does), converting and caching it first when needed.
        /// </summary>
        public static PretrainedWeights GetOrConvert(string sourcePath, string converter, string description, Func<ConvertedWeights> convert)
        {
            string folder = Folder;
            Directory.CreateDirectory(folder);
            string cached = Path.Combine(folder, $"{converter}-{Hash(sourcePath)}.weights");
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
            using (var weights = convert())
            {
                string temp = Path.Combine(folder, $".{Path.GetFileName(cached)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
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
            return WeightsFile.Read(cached, description);
        }

        /// <summary>SHA-256 of a file's bytes, hex, first 16 characters (enough to tell files apart).</summary>
        public static string Hash(string path)
        {
            using var stream = File.OpenRead(path);
            return Convert.ToHexString(SHA256.HashData(stream)).Substring(0, 16).ToLowerInvariant();
        }
    }
}

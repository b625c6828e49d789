// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// What makes a checkpoint belong to a run: every option that changes the numbers, the network (definition and
    /// starting weights), the data (a SHA-256 of the images and labels) and what the caller adds (the trainer: class
    /// names, preprocessing, augmentation). <see cref="FineTuneSettings.Epochs"/> is left out on purpose: raising it
    /// continues a run. So are the knobs that do not change results (the activation cache, callbacks, the log).
    /// </summary>
    internal static class CheckpointIdentity
    {
        // Options that do not change the numbers a resumed run computes (callbacks are left out by type).
        private static readonly HashSet<string> NotIdentity = new HashSet<string>(StringComparer.Ordinal)
        {
            nameof(FineTuneOptions.Epochs), nameof(FineTuneOptions.CheckpointFolder),
            nameof(FineTuneOptions.CancellationToken), nameof(FineTuneOptions.UseActivationCache),
            nameof(FineTuneOptions.ActivationCacheMemoryLimit), nameof(FineTuneOptions.ActivationCacheFolder),
        };

        public static List<KeyValuePair<string, string>> Of(FineTuneOptions options, ResNet model,
            IImageBatchSource train, IImageBatchSource validation)
        {
            var entries = new List<KeyValuePair<string, string>>();
            void Add(string key, object value)
                => entries.Add(new KeyValuePair<string, string>(key, value switch
                {
                    null => "none",
                    double d => d.ToString("R", CultureInfo.InvariantCulture),
                    IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                    _ => value.ToString(),
                }));

            Add("network", model.Definition);
            Add("starting weights", WeightsHash(model));
            Add("training data", DataHash(train));
            Add("validation data", validation == null ? null : DataHash(validation));
            // Every public option, so that one added later is part of the identity without being listed here.
            var properties = typeof(FineTuneOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance)
                .Where(p => !NotIdentity.Contains(p.Name) && !typeof(Delegate).IsAssignableFrom(p.PropertyType))
                .OrderBy(p => p.Name, StringComparer.Ordinal);
            foreach (var property in properties)
            {
                object value = property.GetValue(options);
                Add(property.Name, value is IReadOnlyDictionary<ResNetStage, double> multipliers
                    ? string.Join(", ", multipliers.OrderBy(kv => kv.Key).Select(kv =>
                        $"{kv.Key.Name()}={kv.Value.ToString("R", CultureInfo.InvariantCulture)}"))
                    : value);
            }
            if (options.CheckpointIdentity != null)
                entries.AddRange(options.CheckpointIdentity);
            return entries;
        }

        /// <summary>
        /// Why a checkpoint of <paramref name="saved"/> cannot resume a run of <paramref name="current"/>: each
        /// difference named, or null when they agree.
        /// </summary>
        public static string Differences(IReadOnlyList<KeyValuePair<string, string>> saved,
            IReadOnlyList<KeyValuePair<string, string>> current)
        {
            var before = saved.ToDictionary(kv => kv.Key, kv => kv.Value);
            var now = current.ToDictionary(kv => kv.Key, kv => kv.Value);
            var differences = now.Keys.Union(before.Keys)
                .Where(k => !before.TryGetValue(k, out var b) || !now.TryGetValue(k, out var n) || b != n)
                .Select(k => $"{k}: the checkpoint has {Quote(before, k)}, this run {Quote(now, k)}")
                .ToList();
            return differences.Count == 0 ? null : string.Join("; ", differences);
        }

        private static string Quote(Dictionary<string, string> values, string key)
            => values.TryGetValue(key, out var value) ? $"'{value}'" : "nothing";

        private static string WeightsHash(ResNet model)
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            using var scope = NewDisposeScope();
            foreach (var (name, tensor) in model.state_dict())
            {
                hash.AppendData(System.Text.Encoding.UTF8.GetBytes(name));
                AppendTensor(hash, tensor);
            }
            return Hex(hash);
        }

        /// <summary>The example count and a SHA-256 of every image and label, in index order.</summary>
        private static string DataHash(IImageBatchSource source)
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            if (source is IFingerprintedSource fingerprinted)
            {
                fingerprinted.AddFingerprint(hash);
            }
            else
            {
                const int chunk = 64;
                for (int start = 0; start < source.Count; start += chunk)
                {
                    var indices = Enumerable.Range(start, Math.Min(chunk, source.Count - start)).ToArray();
                    using var batch = source.GetBatch(indices);
                    using var scope = NewDisposeScope();
                    AppendTensor(hash, batch.Images);
                    if (batch.Labels is not null)
                        AppendTensor(hash, batch.Labels);
                }
            }
            return $"{source.Count} examples, SHA-256 {Hex(hash)}";
        }

        private static void AppendTensor(IncrementalHash hash, Tensor tensor)
        {
            var cpu = tensor.detach().cpu().contiguous();
            switch (cpu.dtype)
            {
                case ScalarType.Float32:
                    hash.AppendData(MemoryMarshal.AsBytes(cpu.data<float>().ToArray().AsSpan()));
                    break;
                case ScalarType.Int64:
                    hash.AppendData(MemoryMarshal.AsBytes(cpu.data<long>().ToArray().AsSpan()));
                    break;
                default:
                    using (var stream = new MemoryStream())
                    {
                        cpu.WriteBytesToStream(stream);
                        hash.AppendData(stream.ToArray());
                    }
                    break;
            }
        }

        private static string Hex(IncrementalHash hash) => Convert.ToHexString(hash.GetHashAndReset())[..16];
    }

    /// <summary>A source that fingerprints its examples without decoding them (and without drawing
    /// augmentation).</summary>
    internal interface IFingerprintedSource
    {
        void AddFingerprint(IncrementalHash hash);
    }

    /// <summary>
    /// A source whose randomness (augmentation) is seeded per epoch, so that a resumed run draws what the uninterrupted
    /// one drew.
    /// </summary>
    internal interface IEpochSeededSource
    {
        void StartEpoch(int epoch);
    }

    /// <summary>
    /// Each epoch's seed, derived from the run's seed and the epoch alone (no generator state to save).
    /// </summary>
    internal static class EpochSeeds
    {
        public static int Of(int seed, int epoch)
        {
            // SplitMix64 finaliser over (seed, epoch): neighbouring epochs get unrelated seeds.
            ulong z = ((ulong)(uint)seed << 32 | (uint)epoch) + 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return (int)((z ^ (z >> 31)) & int.MaxValue);
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>Loads a name → tensor dictionary into a <see cref="ResNet"/> strictly, listing every
    /// mismatch.</summary>
    internal static class StateDictLoader
    {
        /// <summary>
        /// Copies <paramref name="source"/> into <paramref name="network"/>. Throws <see cref="InvalidDataException"/>
        /// listing missing, unexpected and mis-shaped keys (a missing <c>num_batches_tracked</c> is fine).
        /// </summary>
        public static void Load(ResNet network, IReadOnlyDictionary<string, Tensor> source, string what)
        {
            var target = network.state_dict();
            var missing = target.Keys.Where(
                k => !source.ContainsKey(k) && !k.EndsWith(".num_batches_tracked", StringComparison.Ordinal)).ToList();
            var unexpected = source.Keys.Where(k => !target.ContainsKey(k)).ToList();
            var misShaped = source.Where(
                kv => target.TryGetValue(kv.Key, out var t) && !t.shape.SequenceEqual(kv.Value.shape))
                .Select(
                kv => $"{kv.Key} (expected [{string.Join(",", target[kv.Key].shape)}], found " +
                $"[{string.Join(",", kv.Value.shape)}])").ToList();
            if (missing.Count + unexpected.Count + misShaped.Count > 0)
            {
                var parts = new List<string>();
                if (missing.Count > 0) parts.Add($"missing keys: {string.Join(", ", missing)}");
                if (unexpected.Count > 0) parts.Add($"unexpected keys: {string.Join(", ", unexpected)}");
                if (misShaped.Count > 0) parts.Add($"mis-shaped keys: {string.Join(", ", misShaped)}");
                throw new InvalidDataException(
                    $"The {what} do not fit {network.Definition}: {string.Join("; ", parts)}.");
            }
            using var noGrad = no_grad();
            foreach (var (name, tensor) in target)
            {
                if (!source.TryGetValue(name, out var value))
                    continue;
                using var converted = value.to(tensor.dtype); // held until copy_ returned (see WeightCopies)
                tensor.copy_(converted);
            }
        }
    }
}

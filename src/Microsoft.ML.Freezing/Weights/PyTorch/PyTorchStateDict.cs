// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.RegularExpressions;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Reads PyTorch <c>state_dict</c> files through TorchSharp.PyBridge and infers the torchvision ResNet they hold.
    /// Formats: <c>torch.save</c>'s zip format (<c>.pth</c>, <c>.pt</c>, <c>.bin</c>; told apart by content, not by
    /// name) and safetensors.
    /// </summary>
    internal static class PyTorchStateDict
    {
        private static readonly Regex BlockKey = new Regex(@"^layer([1-4])\.(\d+)\.", RegexOptions.CultureInvariant);

        /// <summary>
        /// The tensors of a state dict file by key. Accepts a bare state dict, one wrapped as <c>{"state_dict":
        /// ...}</c> or <c>{"model": ...}</c>, and keys prefixed with <c>module.</c> (DataParallel). The caller owns the
        /// tensors.
        /// </summary>
        public static Dictionary<string, Tensor> Read(string path)
        {
            var format = Sniff(path);
            if (format == Format.Unknown)
                throw new InvalidDataException(
                    $"'{path}' is neither torch.save's zip format nor safetensors. A file from torch.save before " +
                    "PyTorch 1.6 (or saved with " +
                    "_use_new_zipfile_serialization=False) must be re-saved with torch.save(model.state_dict(), " +
                    "path).");
            Dictionary<string, Tensor> tensors;
            try
            {
                tensors = format == Format.Zip ? ReadPickle(path) : Safetensors.LoadStateDict(path);
            }
            catch (Exception ex) when (IsFormatError(ex))
            {
                throw new InvalidDataException(
                    $"'{path}' is not a PyTorch state_dict file PyBridge can read (torch.save of a state_dict, or " +
                    $"safetensors): {ex.Message}", ex);
            }
            if (tensors.Count == 0)
                throw new InvalidDataException($"'{path}' holds no tensors.");
            // Key order decides the order of error listings: make it stable (Hashtable order is not).
            string prefix = tensors.Keys.All(k => k.StartsWith("module.", StringComparison.Ordinal)) ? "module." : "";
            return tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal)
                .ToDictionary(kv => kv.Key.Substring(prefix.Length), kv => kv.Value, StringComparer.Ordinal);
        }

        /// <summary>
        /// The torchvision ResNet the keys describe: Bottleneck when any block has <c>conv3</c>, stage depths from the
        /// highest block index of each layer, classes from <c>fc.weight</c> (0 without <c>fc</c>), conv bias when
        /// <c>conv1.bias</c> is present; torchvision's stride variant (V1.5) and BatchNorm epsilon (1e-5).
        /// </summary>
        public static ResNetDefinition Infer(IReadOnlyDictionary<string, Tensor> stateDict, string path)
        {
            var depths = new int[4];
            bool bottleneck = false;
            foreach (string key in stateDict.Keys)
            {
                var match = BlockKey.Match(key);
                if (!match.Success)
                    continue;
                int layer = int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) - 1;
                if (!int.TryParse(match.Groups[2].Value, System.Globalization.NumberStyles.None,
                    System.Globalization.CultureInfo.InvariantCulture, out int block) || block > 10_000)
                    throw new InvalidDataException($"'{path}' has an implausible block index in key '{key}'.");
                depths[layer] = Math.Max(depths[layer], block + 1);
                bottleneck |= key.Substring(match.Length).StartsWith("conv3.", StringComparison.Ordinal);
            }
            var absent = Enumerable.Range(0, 4).Where(i => depths[i] == 0).Select(i => $"layer{i + 1}").ToList();
            if (absent.Count > 0 || !stateDict.ContainsKey("conv1.weight"))
            {
                string sample = string.Join(", ", stateDict.Keys.OrderBy(k => k, StringComparer.Ordinal).Take(8));
                throw new InvalidDataException(
                    $"'{path}' is not a torchvision ResNet state_dict (no conv1.weight or no blocks in " +
                    $"{string.Join(", ", absent.DefaultIfEmpty("conv1"))}); its keys begin: {sample}.");
            }
            int classes = 0;
            if (stateDict.TryGetValue("fc.weight", out var fc))
            {
                if (fc.shape.Length != 2)
                    throw new InvalidDataException(
                        $"'{path}': fc.weight has shape [{string.Join(",", fc.shape)}]; a Linear weight is 2-D.");
                classes = checked((int)fc.shape[0]);
            }
            return new ResNetDefinition(bottleneck ? ResNetBlockType.Bottleneck : ResNetBlockType.Basic, depths,
                classes,
                convBias: stateDict.ContainsKey("conv1.bias"));
        }

        private enum Format { Unknown, Zip, Safetensors }

        // torch.save (PyTorch >= 1.6) writes a zip archive; safetensors starts with a u64 little-endian header length
        // and a JSON object that fits in the file.
        private static Format Sniff(string path)
        {
            using var stream = File.OpenRead(path);
            Span<byte> head = stackalloc byte[9];
            if (stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false) < head.Length)
                return Format.Unknown;
            if (head[0] == 0x50 && head[1] == 0x4b && head[2] == 0x03 && head[3] == 0x04)
                return Format.Zip;
            ulong headerLength = BitConverter.ToUInt64(head.Slice(0, 8));
            return head[8] == (byte)'{' && headerLength <= (ulong)stream.Length - 8 ? Format.Safetensors
                : Format.Unknown;
        }

        private static Dictionary<string, Tensor> ReadPickle(string path)
        {
            Hashtable table;
            using (var stream = File.OpenRead(path))
                table = PyTorchUnpickler.UnpickleStateDict(stream, leaveOpen: false);
            // A checkpoint that wraps the state dict: {"state_dict": {...}} or {"model": {...}}.
            if (!table.Values.OfType<Tensor>().Any())
            {
                foreach (string wrapper in new[] { "state_dict", "model" })
                {
                    if (table[wrapper] is Hashtable inner)
                    {
                        table = inner;
                        break;
                    }
                }
            }
            var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (DictionaryEntry entry in table)
            {
                if (entry.Key is string key && entry.Value is Tensor tensor)
                    tensors[key] = tensor;
            }
            return tensors;
        }

        // PyBridge reports unreadable content with several exception types (NotImplementedException for the legacy
        // format and for whole pickled models, pickle and JSON errors for damaged files).
        private static bool IsFormatError(Exception ex)
            => ex is NotImplementedException || ex is InvalidDataException || ex is InvalidCastException
                || ex is JsonException
               || ex is ArgumentException || ex is FormatException || ex is InvalidOperationException
               || ex is IndexOutOfRangeException
               || ex is EndOfStreamException || ex is OverflowException
               || (ex.GetType().Namespace?.StartsWith("Razorvine.Pickle", StringComparison.Ordinal) ?? false);
    }
}

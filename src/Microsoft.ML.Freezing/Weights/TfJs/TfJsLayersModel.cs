// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;

namespace Microsoft.ML.Freezing
{
    /// <summary>One layer of a Keras functional model, as TF.js' <c>model.json</c> records it.</summary>
    internal sealed class TfJsLayer
    {
        public TfJsLayer(string name, string className, JsonElement config, IReadOnlyList<string> inbound)
        {
            Name = name;
            ClassName = className;
            Config = config;
            Inbound = inbound;
        }

        /// <summary>The layer's name (<c>res2a_branch2a</c>).</summary>
        public string Name { get; }
        /// <summary>The Keras class (<c>Conv2D</c>, <c>BatchNormalization</c>, ...).</summary>
        public string ClassName { get; }
        /// <summary>The layer's <c>config</c> object (a clone, valid after the document is gone).</summary>
        public JsonElement Config { get; }
        /// <summary>Names of the layers feeding this one (the first call of the layer; empty for an input).</summary>
        public IReadOnlyList<string> Inbound { get; }

        /// <inheritdoc/>
        public override string ToString() => $"{ClassName} '{Name}'";
    }

    /// <summary>One entry of the <c>weightsManifest</c>: a named float32 tensor at an offset of its group's
    /// shards.</summary>
    internal sealed class TfJsWeightSpec
    {
        public TfJsWeightSpec(string name, long[] shape, int group, long offset)
        {
            Name = name;
            Shape = shape;
            Group = group;
            Offset = offset;
        }

        /// <summary>Keras weight name, <c>layer/variable</c> (<c>bn_conv1/moving_mean</c>).</summary>
        public string Name { get; }
        /// <summary>The shape in Keras' layout (a conv kernel is [kh, kw, in, out]).</summary>
        public long[] Shape { get; }
        /// <summary>Index of the manifest group holding it.</summary>
        public int Group { get; }
        /// <summary>Offset in bytes within the concatenation of the group's shards.</summary>
        public long Offset { get; }
        /// <summary>Number of elements.</summary>
        public long Count => Shape.Aggregate(1L, (a, b) => a * b);
    }

    /// <summary>
    /// A TF.js "layers-model" <c>model.json</c>: the Keras layer topology and the <c>weightsManifest</c>, whose groups
    /// each list shard files (paths relative to <c>model.json</c>) that, concatenated, hold the group's weights one
    /// after another as little-endian float32. Only unquantised float32 weights are accepted.
    /// </summary>
    internal sealed class TfJsLayersModel
    {
        private readonly Dictionary<string, TfJsLayer> _layersByName;
        private readonly IReadOnlyList<string>[] _groupPaths;

        private TfJsLayersModel(string path, string generatedBy, IReadOnlyList<TfJsLayer> layers,
            IReadOnlyList<string>[] groupPaths, IReadOnlyList<TfJsWeightSpec> weights)
        {
            Path = path;
            GeneratedBy = generatedBy;
            Layers = layers;
            _layersByName = new Dictionary<string, TfJsLayer>(StringComparer.Ordinal);
            foreach (var layer in layers)
            {
                if (!_layersByName.TryAdd(layer.Name, layer))
                    throw Invalid(path, $"two layers are named '{layer.Name}'");
            }
            _groupPaths = groupPaths;
            Weights = weights;
        }

        /// <summary>The <c>model.json</c> file.</summary>
        public string Path { get; }
        /// <summary>What wrote the model (<c>keras v2.2.4-tf</c>), for messages; may be null.</summary>
        public string GeneratedBy { get; }
        /// <summary>The layers in file order.</summary>
        public IReadOnlyList<TfJsLayer> Layers { get; }
        /// <summary>The weights in manifest order.</summary>
        public IReadOnlyList<TfJsWeightSpec> Weights { get; }

        /// <summary>The layer of that name, or null.</summary>
        public TfJsLayer Layer(string name) => _layersByName.TryGetValue(name, out var layer) ? layer : null;

        /// <summary>Parses <paramref name="modelJsonPath"/>; throws <see cref="InvalidDataException"/> when it is not a
        /// layers model.</summary>
        public static TfJsLayersModel Load(string modelJsonPath)
        {
            JsonDocument document;
            try
            {
                using var stream = File.OpenRead(modelJsonPath);
                document = JsonDocument.Parse(stream);
            }
            catch (JsonException ex)
            {
                throw new InvalidDataException($"'{modelJsonPath}' is not valid JSON: {ex.Message}", ex);
            }
            using (document)
            {
                try
                {
                    return Parse(modelJsonPath, document.RootElement);
                }
                catch (Exception ex) when (ex is InvalidOperationException || ex is KeyNotFoundException
                    || ex is FormatException)
                {
                    // Wrong JSON kinds (a string where a number belongs, a missing member) surface as these.
                    throw Invalid(modelJsonPath, ex.Message, ex);
                }
            }
        }

        private static TfJsLayersModel Parse(string path, JsonElement root)
        {
            if (root.TryGetProperty("format", out var format) && format.GetString() != "layers-model")
                throw Invalid(path,
                    $"format is '{format.GetString()}', not 'layers-model' (a graph model cannot be imported)");
            string generatedBy = root.TryGetProperty("generatedBy", out var g) ? g.GetString() : null;
            var layers = ParseLayers(path, root);
            var (groupPaths, weights) = ParseWeightsManifest(path, root);
            return new TfJsLayersModel(path, generatedBy, layers, groupPaths, weights);
        }

        private static List<TfJsLayer> ParseLayers(string path, JsonElement root)
        {
            if (!root.TryGetProperty("modelTopology", out var topology))
                throw Invalid(path, "it has no modelTopology");
            // Keras writes {"keras_version", "backend", "model_config": {...}}; tfjs writes the model config directly.
            var modelConfig = topology.TryGetProperty("model_config", out var mc) ? mc : topology;
            var config = modelConfig.GetProperty("config");
            var layersJson = config.ValueKind == JsonValueKind.Array ? config : config.GetProperty("layers");
            var layers = new List<TfJsLayer>();
            foreach (var layer in layersJson.EnumerateArray())
            {
                var layerConfig = layer.GetProperty("config");
                string name = layer.TryGetProperty("name", out var n) ? n.GetString()
                    : layerConfig.GetProperty("name").GetString();
                layers.Add(
                    new TfJsLayer(name, layer.GetProperty("class_name").GetString(), layerConfig.Clone(),
                    Inbound(layer)));
            }
            return layers;
        }

        // The weight files of each group, and every weight with its group and byte offset in the group's files.
        private static (IReadOnlyList<string>[] GroupPaths, List<TfJsWeightSpec> Weights) ParseWeightsManifest(
            string path, JsonElement root)
        {
            if (!root.TryGetProperty("weightsManifest", out var manifest) || manifest.ValueKind != JsonValueKind.Array)
                throw Invalid(path, "it has no weightsManifest");
            var groupPaths = new List<IReadOnlyList<string>>();
            var weights = new List<TfJsWeightSpec>();
            foreach (var group in manifest.EnumerateArray())
            {
                int index = groupPaths.Count;
                groupPaths.Add(group.GetProperty("paths").EnumerateArray().Select(p => p.GetString()).ToList());
                long offset = 0;
                foreach (var weight in group.GetProperty("weights").EnumerateArray())
                {
                    var spec = new TfJsWeightSpec(weight.GetProperty("name").GetString(), Shape(path, weight), index,
                        offset);
                    weights.Add(spec);
                    offset += spec.Count * sizeof(float);
                }
            }
            var duplicate = weights.GroupBy(w => w.Name).FirstOrDefault(w => w.Count() > 1);
            if (duplicate != null)
                throw Invalid(path, $"weight '{duplicate.Key}' is listed twice");
            return (groupPaths.ToArray(), weights);
        }

        // An unquantised float32 weight's shape.
        private static long[] Shape(string path, JsonElement weight)
        {
            string name = weight.GetProperty("name").GetString();
            string dtype = weight.GetProperty("dtype").GetString();
            if (dtype != "float32")
                throw Invalid(path, $"weight '{name}' has dtype {dtype}; only float32 is supported");
            if (weight.TryGetProperty("quantization", out _))
                throw Invalid(path, $"weight '{name}' is quantised; only unquantised float32 is supported");
            var shape = weight.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
            if (shape.Any(d => d < 0))
                throw Invalid(path, $"weight '{name}' has a negative dimension");
            return shape;
        }

        // Keras' "inbound_nodes": [[["layer", nodeIndex, tensorIndex, {kwargs}], ...], ...]: one list per call of the
        // layer. The models imported here call each layer once.
        private static IReadOnlyList<string> Inbound(JsonElement layer)
        {
            if (!layer.TryGetProperty("inbound_nodes", out var nodes) || nodes.ValueKind != JsonValueKind.Array
                || nodes.GetArrayLength() == 0)
                return Array.Empty<string>();
            return nodes[0].EnumerateArray().Select(edge => edge[0].GetString()).ToList();
        }

        /// <summary>
        /// Reads every weight from the shards: name → (shape, values). Checks that each group's shards together have
        /// exactly the bytes the manifest implies.
        /// </summary>
        public Dictionary<string, (long[] Shape, float[] Values)> ReadWeights()
        {
            string folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(Path));
            var result = new Dictionary<string, (long[], float[])>(StringComparer.Ordinal);
            for (int group = 0; group < _groupPaths.Length; group++)
            {
                var specs = Weights.Where(w => w.Group == group).ToList();
                long expected = specs.Sum(w => w.Count * sizeof(float));
                byte[] bytes = ReadShards(folder, _groupPaths[group], expected);
                foreach (var spec in specs)
                {
                    var values = new float[spec.Count];
                    Buffer.BlockCopy(bytes, checked((int)spec.Offset), values, 0,
                        checked((int)(spec.Count * sizeof(float))));
                    if (!BitConverter.IsLittleEndian)
                    {
                        var ints = System.Runtime.InteropServices.MemoryMarshal.Cast<float, int>(values.AsSpan());
                        System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(ints, ints);
                    }
                    result.Add(spec.Name, (spec.Shape, values));
                }
            }
            return result;
        }

        private byte[] ReadShards(string folder, IReadOnlyList<string> paths, long expected)
        {
            var files = paths.Select(p =>
            {
                // Shard paths are relative to model.json and must stay beside it.
                string full = System.IO.Path.GetFullPath(System.IO.Path.Combine(folder, p));
                if (System.IO.Path.IsPathRooted(p)
                    || !full.StartsWith(folder + System.IO.Path.DirectorySeparatorChar, StringComparison.Ordinal))
                    throw Invalid(Path, $"shard path '{p}' leaves the model's folder");
                if (!File.Exists(full))
                    throw new FileNotFoundException($"Weight shard '{full}' of '{Path}' does not exist.", full);
                return full;
            }).ToList();
            long actual = files.Sum(f => new FileInfo(f).Length);
            if (actual != expected)
                throw Invalid(Path,
                    $"its {files.Count} shard(s) hold {actual} bytes, but the manifest's weights need {expected}");
            if (expected > Array.MaxLength)
                throw Invalid(Path, $"a weight group of {expected} bytes is too large");
            var bytes = new byte[expected];
            int at = 0;
            foreach (var file in files)
            {
                using var stream = File.OpenRead(file);
                stream.ReadExactly(bytes, at, checked((int)stream.Length));
                at += (int)stream.Length;
            }
            return bytes;
        }

        private static InvalidDataException Invalid(string path, string what, Exception inner = null)
            => new InvalidDataException($"'{path}' is not a TF.js layers model this library can read: {what}.", inner);
    }
}

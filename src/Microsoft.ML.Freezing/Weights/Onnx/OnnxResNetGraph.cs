// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using Onnx;

namespace Microsoft.ML.Freezing
{
    /// <summary>One initializer of an ONNX ResNet graph and the torchvision-style state-dict key it maps to.</summary>
    /// <param name="OnnxName">The initializer's name in the ONNX graph (for CNTK exports opaque, e.g.
    /// <c>Parameter91</c>).</param>
    /// <param name="Key">The torchvision-style key, e.g. <c>layer2.0.downsample.1.running_mean</c>.</param>
    /// <param name="Shape">The tensor's shape.</param>
    internal sealed record OnnxTensorMapping(string OnnxName, string Key, long[] Shape);

    /// <summary>
    /// Reads a ResNet with BasicBlocks from an ONNX graph (unfolded BatchNorm, no conv bias, as CNTK exports it): finds
    /// the stem, every residual block and its shortcut by following the data flow from each <c>Add</c> node, and names
    /// the initializers of every Conv and BatchNormalization node the torchvision way. The result is listed in graph
    /// order.
    /// </summary>
    internal sealed class OnnxResNetGraph
    {
        private static readonly string[] BatchNormSuffixes = { "weight", "bias", "running_mean", "running_var" };
        private static readonly long[] StageWidths = { 64, 128, 256, 512 };

        private static readonly HashSet<string> KnownOps = new HashSet<string>(StringComparer.Ordinal)
        {
            "Conv", "BatchNormalization", "Relu", "MaxPool", "Add", "AveragePool", "GlobalAveragePool",
        };

        private readonly GraphProto _graph;
        private readonly Dictionary<string, NodeProto> _producers = new Dictionary<string, NodeProto>(
            StringComparer.Ordinal);
        private readonly Dictionary<string, TensorProto> _initializers;
        private readonly string _what;

        private OnnxResNetGraph(GraphProto graph, string what)
        {
            _graph = graph;
            _what = what;
            _initializers = new Dictionary<string, TensorProto>(StringComparer.Ordinal);
            foreach (var initializer in graph.Initializer)
                _initializers[initializer.Name] = initializer;
            foreach (var node in graph.Node)
            {
                foreach (var output in node.Output)
                    _producers[output] = node;
            }
        }

        /// <summary>The network the graph defines (Basic blocks, stage depths and BatchNorm epsilon from the graph; no
        /// fc).</summary>
        public ResNetDefinition Definition { get; private set; }

        /// <summary>Every initializer with its key and shape, in graph order (a downsampling block's shortcut comes
        /// first there).</summary>
        public IReadOnlyList<OnnxTensorMapping> Mapping { get; private set; }

        /// <summary>Name of the graph's image input.</summary>
        public string InputName { get; private set; }

        /// <summary>Parses an ONNX file. Throws <see cref="InvalidDataException"/> when it is not a ResNet this reader
        /// understands.</summary>
        public static OnnxResNetGraph Read(string path)
        {
            ModelProto model;
            try
            {
                using var stream = File.OpenRead(path);
                model = ModelProto.Parser.ParseFrom(stream);
            }
            catch (Google.Protobuf.InvalidProtocolBufferException ex)
            {
                throw new InvalidDataException($"'{path}' is not an ONNX model: {ex.Message}", ex);
            }
            if (model.Graph == null || model.Graph.Node.Count == 0)
                throw new InvalidDataException($"'{path}' is not an ONNX model (it has no graph).");
            var graph = new OnnxResNetGraph(model.Graph, $"ONNX model '{Path.GetFileName(path)}'");
            graph.Analyse();
            return graph;
        }

        /// <summary>The float data of an initializer (from <c>float_data</c> or little-endian
        /// <c>raw_data</c>).</summary>
        public float[] ReadFloats(string name)
        {
            var tensor = _initializers[name];
            if (tensor.DataType != (int)TensorProto.Types.DataType.Float)
                throw Invalid($"initializer '{name}' has data type {tensor.DataType}, not float");
            if (tensor.DataLocation == TensorProto.Types.DataLocation.External)
                throw Invalid($"initializer '{name}' keeps its data in an external file, which is not supported");
            long count = tensor.Dims.Aggregate(1L, (a, d) => a * d);
            float[] values;
            if (tensor.FloatData.Count > 0)
            {
                values = new float[tensor.FloatData.Count];
                tensor.FloatData.CopyTo(values, 0);
            }
            else
            {
                if (!BitConverter.IsLittleEndian)
                    throw new PlatformNotSupportedException("Reading ONNX raw_data needs a little-endian machine.");
                values = MemoryMarshal.Cast<byte, float>(tensor.RawData.Span).ToArray();
            }
            if (values.Length != count)
                throw Invalid(
                    $"initializer '{name}' holds {values.Length} values for shape [{string.Join(",", tensor.Dims)}]");
            return values;
        }

        // One residual block: its main branch and, when the shape changes, its projection shortcut (else null).
        private sealed record ResidualBlock(NodeProto Conv1, NodeProto Bn1, NodeProto Conv2, NodeProto Bn2,
            NodeProto DownConv, NodeProto DownBn);

        private void Analyse()
        {
            InputName = CheckOpsAndFindInput();
            // Role of every Conv and BatchNormalization node: the torchvision prefix of its initializers.
            var prefixes = new Dictionary<NodeProto, string>();
            var stemConv = NameStem(prefixes);
            var depths = NameBlocks(FindBlocks(), prefixes);
            CheckConv(stemConv, 7, 2, "conv1");
            var (mapping, epsilon) = MapInitializers(prefixes);
            Definition = new ResNetDefinition(ResNetBlockType.Basic, depths, numClasses: 0, ResNetVariant.V1_5, epsilon,
                convBias: false);
            Mapping = mapping;
        }

        private string CheckOpsAndFindInput()
        {
            foreach (var node in _graph.Node)
            {
                if (!KnownOps.Contains(node.OpType))
                    throw Invalid(
                        $"node '{node.Name}' has op type {node.OpType}, which a ResNet of Conv, BatchNormalization, " +
                        "Relu, MaxPool, Add and pooling nodes does not have");
            }
            var graphInputs = _graph.Input.Select(i => i.Name).Where(n => !_initializers.ContainsKey(n)).ToList();
            if (graphInputs.Count != 1)
                throw Invalid(
                    $"expected one image input, found {graphInputs.Count} ({string.Join(", ", graphInputs)})");
            return graphInputs[0];
        }

        // Stem: the first Conv reads the image; a BN, a ReLU and a max pool follow.
        private NodeProto NameStem(Dictionary<NodeProto, string> prefixes)
        {
            var stemConv = _graph.Node.FirstOrDefault(n => n.OpType == "Conv")
                ?? throw Invalid("it has no Conv node");
            if (stemConv.Input[0] != InputName)
                throw Invalid($"the first Conv '{stemConv.Name}' does not read the input '{InputName}'");
            prefixes[stemConv] = "conv1";
            prefixes[SingleConsumer(stemConv.Output[0], "BatchNormalization", "the stem conv")] = "bn1";
            return stemConv;
        }

        // Every Add joins a main branch BN(Conv(ReLU(BN(Conv(x))))) and a shortcut x or BN(Conv1x1(x)).
        private List<ResidualBlock> FindBlocks()
        {
            var blocks = new List<ResidualBlock>();
            foreach (var add in _graph.Node.Where(n => n.OpType == "Add"))
            {
                if (add.Input.Count != 2)
                    throw Invalid($"Add node '{add.Name}' has {add.Input.Count} inputs");
                var a = MainBranch(add.Input[0]);
                var b = MainBranch(add.Input[1]);
                if ((a == null) == (b == null))
                    throw Invalid(
                        $"Add node '{add.Name}' does not join one conv-BN-ReLU-conv-BN branch with a shortcut");
                var main = (a ?? b).Value;
                string shortcut = a != null ? add.Input[1] : add.Input[0];
                var (downConv, downBn) = Projection(add, shortcut, blockInput: main.Conv1.Input[0]);
                blocks.Add(new ResidualBlock(main.Conv1, main.Bn1, main.Conv2, main.Bn2, downConv, downBn));
            }
            if (blocks.Count == 0)
                throw Invalid("it has no residual blocks (Add nodes)");
            return blocks;
        }

        // The shortcut's projection conv and BN, or (null, null) when the shortcut is the block input itself.
        private (NodeProto Conv, NodeProto Bn) Projection(NodeProto add, string shortcut, string blockInput)
        {
            if (shortcut == blockInput)
                return (null, null);
            var downBn = Producer(shortcut, "BatchNormalization");
            var downConv = downBn == null ? null : Producer(downBn.Input[0], "Conv");
            if (downConv == null || downConv.Input[0] != blockInput)
                throw Invalid(
                    $"the shortcut of Add node '{add.Name}' is neither the block input nor a projection conv + BN of " +
                    "it");
            return (downConv, downBn);
        }

        // Stages: a new stage starts where the width changes; widths must be torchvision's 64, 128, 256, 512.
        // Returns the depth of each stage.
        private int[] NameBlocks(List<ResidualBlock> blocks, Dictionary<NodeProto, string> prefixes)
        {
            var depths = new int[4];
            int stage = -1;
            long width = -1;
            for (int b = 0; b < blocks.Count; b++)
            {
                long channels = Dims(blocks[b].Conv1.Input[1])[0];
                if (channels != width)
                {
                    stage++;
                    if (stage >= 4 || channels != StageWidths[stage])
                        throw Invalid(
                            $"block {b} has {channels} channels where a ResNet stage of width " +
                            $"{(stage < 4 ? StageWidths[stage].ToString(CultureInfo.InvariantCulture) : "none")} is " +
                            "expected");
                    width = channels;
                }
                // torchvision downsamples in the first block of every stage after the first.
                long stride = stage > 0 && depths[stage] == 0 ? 2 : 1;
                NameBlock(blocks[b], $"layer{stage + 1}.{depths[stage]}", stride, channels, prefixes);
                depths[stage]++;
            }
            if (stage != 3)
                throw Invalid($"it has {stage + 1} stages, not 4");
            return depths;
        }

        private void NameBlock(ResidualBlock block, string prefix, long stride, long channels,
            Dictionary<NodeProto, string> prefixes)
        {
            CheckConv(block.Conv1, 3, stride, prefix + ".conv1");
            CheckConv(block.Conv2, 3, 1, prefix + ".conv2");
            bool needsShortcut = stride != 1 || Dims(block.Conv1.Input[1])[1] != channels;
            if (needsShortcut != (block.DownConv != null))
                throw Invalid(
                    $"block {prefix} {(needsShortcut ? "lacks" : "has")} a projection shortcut, unlike torchvision's");
            prefixes[block.Conv1] = prefix + ".conv1";
            prefixes[block.Bn1] = prefix + ".bn1";
            prefixes[block.Conv2] = prefix + ".conv2";
            prefixes[block.Bn2] = prefix + ".bn2";
            if (block.DownConv != null)
            {
                CheckConv(block.DownConv, 1, stride, prefix + ".downsample.0");
                prefixes[block.DownConv] = prefix + ".downsample.0";
                prefixes[block.DownBn] = prefix + ".downsample.1";
            }
        }

        // Initializers in graph order, each used once; and the BatchNorm epsilon, which every BatchNorm must share.
        private (List<OnnxTensorMapping> Mapping, double Epsilon) MapInitializers(
            Dictionary<NodeProto, string> prefixes)
        {
            var mapping = new List<OnnxTensorMapping>();
            var used = new HashSet<string>(StringComparer.Ordinal);
            var epsilons = new List<float>();
            foreach (var node in _graph.Node.Where(n => n.OpType == "Conv" || n.OpType == "BatchNormalization"))
            {
                if (!prefixes.TryGetValue(node, out var prefix))
                    throw Invalid($"{node.OpType} node '{node.Name}' is not part of the stem or of a residual block");
                if (node.OpType == "Conv")
                {
                    if (node.Input.Count != 2)
                        throw Invalid(
                            $"Conv node '{node.Name}' has a bias; the importer expects convolutions without bias");
                    mapping.Add(Map(node.Input[1], prefix + ".weight", used));
                    continue;
                }
                if (node.Input.Count != 5)
                    throw Invalid($"BatchNormalization node '{node.Name}' has {node.Input.Count} inputs, not 5 (x, " +
                        "scale, bias, mean, var)");
                for (int i = 0; i < 4; i++)
                    mapping.Add(Map(node.Input[i + 1], prefix + "." + BatchNormSuffixes[i], used));
                epsilons.Add(node.Attribute.FirstOrDefault(x => x.Name == "epsilon")?.F ?? 1e-5f);
            }
            var unused = _initializers.Keys.Where(k => !used.Contains(k)).ToList();
            if (unused.Count > 0)
                throw Invalid($"initializers {string.Join(", ", unused)} belong to no Conv or BatchNormalization node");
            if (epsilons.Distinct().Count() != 1)
                throw Invalid($"its BatchNorm nodes use different epsilons ({string.Join(", ", epsilons.Distinct())})");
            // The attribute is a float: 1e-5f printed shortest-round-trip and read as a double gives 1e-5 exactly.
            return (mapping, double.Parse(epsilons[0].ToString("R", CultureInfo.InvariantCulture),
                CultureInfo.InvariantCulture));
        }

        private (NodeProto Conv1, NodeProto Bn1, NodeProto Conv2, NodeProto Bn2)? MainBranch(string output)
        {
            var bn2 = Producer(output, "BatchNormalization");
            var conv2 = bn2 == null ? null : Producer(bn2.Input[0], "Conv");
            var relu = conv2 == null ? null : Producer(conv2.Input[0], "Relu");
            var bn1 = relu == null ? null : Producer(relu.Input[0], "BatchNormalization");
            var conv1 = bn1 == null ? null : Producer(bn1.Input[0], "Conv");
            return conv1 == null ? null : (conv1, bn1, conv2, bn2);
        }

        private NodeProto Producer(string output, string opType)
            => _producers.TryGetValue(output, out var node) && node.OpType == opType ? node : null;

        private NodeProto SingleConsumer(string output, string opType, string what)
        {
            var consumers = _graph.Node.Where(n => n.Input.Contains(output)).ToList();
            if (consumers.Count != 1 || consumers[0].OpType != opType)
                throw Invalid($"{what} is not followed by exactly one {opType} node");
            return consumers[0];
        }

        private void CheckConv(NodeProto conv, long kernel, long stride, string key)
        {
            var dims = Dims(conv.Input[1]);
            if (dims.Length != 4 || dims[2] != kernel || dims[3] != kernel)
                throw Invalid(
                    $"{key} ('{conv.Name}') has weight shape [{string.Join(",", dims)}], not a {kernel}x{kernel} " +
                    "kernel");
            var strides = conv.Attribute.FirstOrDefault(a => a.Name == "strides")?.Ints.ToArray() ?? new[] { 1L, 1L };
            if (strides.Any(s => s != stride))
                throw Invalid(
                    $"{key} ('{conv.Name}') has strides [{string.Join(",", strides)}], where torchvision's ResNet " +
                    $"has {stride}");
            var groups = conv.Attribute.FirstOrDefault(a => a.Name == "group");
            var dilations = conv.Attribute.FirstOrDefault(a => a.Name == "dilations")?.Ints ?? null;
            if ((groups != null && groups.I != 1) || (dilations != null && dilations.Any(d => d != 1)))
                throw Invalid($"{key} ('{conv.Name}') is grouped or dilated");
        }

        private long[] Dims(string initializer)
        {
            if (!_initializers.TryGetValue(initializer, out var tensor))
                throw Invalid(
                    $"'{initializer}' is not an initializer (weights computed at run time are not supported)");
            return tensor.Dims.ToArray();
        }

        private OnnxTensorMapping Map(string initializer, string key, HashSet<string> used)
        {
            var dims = Dims(initializer);
            if (!used.Add(initializer))
                throw Invalid($"initializer '{initializer}' is used by more than one layer");
            return new OnnxTensorMapping(initializer, key, dims);
        }

        private InvalidDataException Invalid(string why)
            => new InvalidDataException($"The {_what} is not a ResNet the importer understands: {why}.");
    }
}

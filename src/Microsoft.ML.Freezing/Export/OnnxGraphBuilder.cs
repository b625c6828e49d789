// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Builds the ONNX graph of a <see cref="ResNet"/> node by node, reading its weights by their state-dict names
    /// (from the module, or from a saved model without TorchSharp: <see cref="INamedWeights"/>). The
    /// structure (strides, paddings, shortcuts) follows <c>Backbone/</c>: torchvision's ResNet with Basic or Bottleneck
    /// blocks (v1 or v1.5 stride placement), optional conv biases. Value names are the module paths
    /// (<c>layer2.0.conv1</c>, ...); initializers keep the state-dict keys.
    /// </summary>
    internal sealed class OnnxGraphBuilder
    {
        private readonly INamedWeights _weights;
        private readonly HashSet<string> _names = new HashSet<string>(StringComparer.Ordinal);

        public OnnxGraphBuilder(INamedWeights weights)
        {
            _weights = weights;
        }

        public GraphProto Graph { get; } = new GraphProto();

        private ResNetDefinition Definition => _weights.Definition;

        public void AddInput(string name, long[] shape)
        {
            _names.Add(name);
            Graph.Input.Add(ValueInfo(name, shape));
        }

        public void AddOutput(string name, long[] shape) => Graph.Output.Add(ValueInfo(name, shape));

        /// <summary>Makes the value <paramref name="name"/> (which later nodes may read too) a float output whose shape
        /// ONNX Runtime infers.</summary>
        public void AddOutput(string name)
            => Graph.Output.Add(new ValueInfoProto { Name = name, Type = new TypeProto {
                TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } } });

        /// <summary>Gives the last node's output the graph output's name.</summary>
        public void Rename(string value, string name)
        {
            var node = Graph.Node.Last();
            if (node.Output[0] != value)
                throw new InvalidOperationException($"'{value}' is not the last node's output.");
            if (name == value)
                return;
            if (_names.Contains(name))
                throw new ArgumentException(
                    $"The output name '{name}' collides with a name inside the graph; choose another.");
            node.Output[0] = name;
        }

        public string Transpose(string x, string name, params long[] perm)
        {
            var node = Node("Transpose", name, x);
            node.Attribute.Add(Ints("perm", perm));
            return name;
        }

        /// <summary>Channel order, then <c>x * (Scale / Std[c]) + (-Mean[c] / Std[c])</c>, as
        /// <see cref="ImagePreprocessing.Normalize"/>.</summary>
        public string Normalize(string x, ImagePreprocessing preprocessing)
        {
            if (preprocessing.Channels == ChannelOrder.Bgr)
            {
                var indices = new TensorProto { Name = "preprocess.bgr_indices",
                    DataType = (int)TensorProto.Types.DataType.Int64 };
                indices.Dims.Add(3);
                indices.Int64Data.Add(new long[] { 2, 1, 0 });
                AddInitializer(indices);
                var gather = Node("Gather", "preprocess.rgb_to_bgr", x, indices.Name);
                gather.Attribute.Add(Int("axis", 1));
                x = gather.Output[0];
            }
            // The same float arithmetic as ImagePreprocessing.Normalize, so the two agree to the last bit here.
            var gain = preprocessing.Normalizer.Gain.ToArray();
            var offset = preprocessing.Normalizer.Offset.ToArray();
            AddInitializer(FloatTensor("preprocess.gain", gain, 1, 3, 1, 1));
            AddInitializer(FloatTensor("preprocess.offset", offset, 1, 3, 1, 1));
            Node("Mul", "preprocess.scaled", x, "preprocess.gain");
            Node("Add", "preprocess.normalized", "preprocess.scaled", "preprocess.offset");
            return "preprocess.normalized";
        }

        /// <summary>conv1 (7x7, stride 2, padding 3), bn1, ReLU, max pooling (3x3, stride 2, padding 1).</summary>
        public string Stem(string x)
        {
            x = Conv(x, "conv1", kernel: 7, stride: 2, pad: 3);
            x = BatchNorm(x, "bn1");
            x = Relu(x, "relu");
            var pool = Node("MaxPool", "maxpool", x);
            pool.Attribute.Add(Ints("kernel_shape", 3, 3));
            pool.Attribute.Add(Ints("strides", 2, 2));
            pool.Attribute.Add(Ints("pads", 1, 1, 1, 1));
            return pool.Output[0];
        }

        /// <summary>The blocks of layer1..layer4; the first block of layer2..layer4 downsamples by 2.</summary>
        public string Layer(string x, ResNetStage stage)
        {
            int index = stage - ResNetStage.Layer1;
            if (index < 0 || index > 3)
                throw new ArgumentOutOfRangeException(nameof(stage));
            for (int block = 0; block < Definition.Depths[index]; block++)
            {
                long stride = block == 0 && index > 0 ? 2 : 1;
                string prefix = $"layer{index + 1}.{block}";
                x = Definition.BlockType == ResNetBlockType.Basic ? BasicBlock(x, prefix, stride)
                    : Bottleneck(x, prefix, stride);
            }
            return x;
        }

        /// <summary>Global average pooling to [N, C].</summary>
        public string Pool(string x)
        {
            Node("GlobalAveragePool", "avgpool", x);
            var flatten = Node("Flatten", "flatten", "avgpool");
            flatten.Attribute.Add(Int("axis", 1));
            return flatten.Output[0];
        }

        /// <summary>A Linear layer: <c>x W^T + b</c>.</summary>
        public string Gemm(string x, string prefix)
        {
            var node = Node("Gemm", prefix, x, Weight(prefix + ".weight"), Weight(prefix + ".bias"));
            node.Attribute.Add(Int("transB", 1));
            return prefix;
        }

        public string Softmax(string x)
        {
            var node = Node("Softmax", "softmax", x);
            node.Attribute.Add(Int("axis", 1));
            return node.Output[0];
        }

        private string BasicBlock(string x, string prefix, long stride)
        {
            var y = Relu(BatchNorm(Conv(x, prefix + ".conv1", 3, stride, 1), prefix + ".bn1"), prefix + ".relu1");
            y = BatchNorm(Conv(y, prefix + ".conv2", 3, 1, 1), prefix + ".bn2");
            return Residual(x, y, prefix, stride);
        }

        private string Bottleneck(string x, string prefix, long stride)
        {
            bool v1 = Definition.Variant == ResNetVariant.V1;
            var y = Relu(BatchNorm(Conv(x, prefix + ".conv1", 1, v1 ? stride : 1, 0), prefix + ".bn1"),
                prefix + ".relu1");
            y = Relu(BatchNorm(Conv(y, prefix + ".conv2", 3, v1 ? 1 : stride, 1), prefix + ".bn2"), prefix + ".relu2");
            y = BatchNorm(Conv(y, prefix + ".conv3", 1, 1, 0), prefix + ".bn3");
            return Residual(x, y, prefix, stride);
        }

        /// <summary>Adds the (projected, when the block has a <c>downsample</c>) shortcut, then ReLU.</summary>
        private string Residual(string x, string y, string prefix, long stride)
        {
            string identity = x;
            if (_weights.Contains(prefix + ".downsample.0.weight"))
                identity = BatchNorm(Conv(x, prefix + ".downsample.0", 1, stride, 0), prefix + ".downsample.1");
            Node("Add", prefix + ".add", y, identity);
            return Relu(prefix + ".add", prefix + ".out");
        }

        private string Conv(string x, string prefix, long kernel, long stride, long pad)
        {
            string weight = Weight(prefix + ".weight");
            var node = Definition.ConvBias
                ? Node("Conv", prefix, x, weight, Weight(prefix + ".bias"))
                : Node("Conv", prefix, x, weight);
            node.Attribute.Add(Ints("kernel_shape", kernel, kernel));
            node.Attribute.Add(Ints("strides", stride, stride));
            node.Attribute.Add(Ints("pads", pad, pad, pad, pad));
            return prefix;
        }

        private string BatchNorm(string x, string prefix)
        {
            var node = Node("BatchNormalization", prefix, x,
                Weight(prefix + ".weight"), Weight(prefix + ".bias"), Weight(prefix + ".running_mean"),
                Weight(prefix + ".running_var"));
            node.Attribute.Add(Float("epsilon", (float)Definition.BatchNormEpsilon));
            return prefix;
        }

        private string Relu(string x, string name) => Node("Relu", name, x).Output[0];

        private NodeProto Node(string op, string output, params string[] inputs)
        {
            if (!_names.Add(output))
                throw new ArgumentException(
                    $"The name '{output}' is used twice in the graph (is the input named like a layer?).");
            var node = new NodeProto { OpType = op, Name = output };
            node.Input.Add(inputs);
            node.Output.Add(output);
            Graph.Node.Add(node);
            return node;
        }

        /// <summary>Adds the state-dict tensor <paramref name="key"/> as an initializer of the same name; returns the
        /// name.</summary>
        private string Weight(string key)
        {
            var (shape, values) = _weights.Get(key);
            if (shape is null)
                throw new InvalidOperationException($"The network has no '{key}' (its definition is {Definition}).");
            // Raw little-endian bytes, wrapped by the ByteString without another copy.
            var proto = new TensorProto { Name = key, DataType = (int)TensorProto.Types.DataType.Float };
            proto.Dims.Add(shape);
            proto.RawData = UnsafeByteOperations.UnsafeWrap(values);
            AddInitializer(proto);
            return key;
        }

        private void AddInitializer(TensorProto tensor)
        {
            if (!_names.Add(tensor.Name))
                throw new ArgumentException(
                    $"The name '{tensor.Name}' is used twice in the graph (is the input named like a weight?).");
            Graph.Initializer.Add(tensor);
        }

        private static TensorProto FloatTensor(string name, float[] values, params long[] shape)
        {
            var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
            tensor.Dims.Add(shape);
            if (BitConverter.IsLittleEndian)
                tensor.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
            else
                tensor.FloatData.Add(values);
            return tensor;
        }

        private static ValueInfoProto ValueInfo(string name, long[] shape)
        {
            var tensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float,
                Shape = new TensorShapeProto() };
            foreach (long d in shape)
            {
                tensorType.Shape.Dim.Add(d < 0
                    ? new TensorShapeProto.Types.Dimension { DimParam = OnnxExporter.BatchDimension }
                    : new TensorShapeProto.Types.Dimension { DimValue = d });
            }
            return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tensorType } };
        }

        private static AttributeProto Int(string name, long value)
            => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

        private static AttributeProto Float(string name, float value)
            => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

        private static AttributeProto Ints(string name, params long[] values)
        {
            var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
            attribute.Ints.Add(values);
            return attribute;
        }
    }
}

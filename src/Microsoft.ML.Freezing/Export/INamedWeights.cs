// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// A network's weights by state-dict name, as float32: what the ONNX graph is built from. A live
    /// <see cref="ResNet"/> provides them (<see cref="NetworkWeights"/>), and so does a saved model's "Weights" stream
    /// read without TorchSharp (<see cref="SavedWeights"/>), so that ONNX Runtime scores without libtorch.
    /// </summary>
    internal interface INamedWeights
    {
        /// <summary>The network's shape.</summary>
        ResNetDefinition Definition { get; }

        /// <summary>Whether the state dict holds <paramref name="name"/>.</summary>
        bool Contains(string name);

        /// <summary>
        /// The shape of <paramref name="name"/> and its values as float32, contiguous, little-endian (the layout of
        /// ONNX's <c>raw_data</c>); null when the state dict has no such tensor.
        /// </summary>
        (long[] Shape, ReadOnlyMemory<byte> Float32) Get(string name);
    }

    /// <summary>The weights of a live <see cref="ResNet"/> (its state dict; read at each call, not copied
    /// ahead).</summary>
    internal sealed class NetworkWeights : INamedWeights
    {
        private readonly Dictionary<string, Tensor> _state;

        public NetworkWeights(ResNet network)
        {
            Definition = network.Definition;
            _state = network.state_dict();
        }

        public ResNetDefinition Definition { get; }

        public bool Contains(string name) => _state.ContainsKey(name);

        public (long[] Shape, ReadOnlyMemory<byte> Float32) Get(string name)
        {
            if (!_state.TryGetValue(name, out var tensor))
                return (null, default);
            using var scope = NewDisposeScope();
            var cpu = tensor.detach().cpu().to_type(ScalarType.Float32).contiguous();
            // Tensor.bytes is the tensor's memory: one block copy (the element accessor took 4x as long).
            byte[] bytes = cpu.bytes.ToArray();
            if (!BitConverter.IsLittleEndian)
            {
                var words = MemoryMarshal.Cast<byte, int>(bytes.AsSpan());
                BinaryPrimitives.ReverseEndianness(words, words);
            }
            return (cpu.shape, bytes);
        }
    }
}

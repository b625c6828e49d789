// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// A saved model's weights (its "Weights" stream, <see cref="SavedStateDict"/>) checked against the network of
    /// <see cref="Definition"/> as strictly as TorchSharp's <c>load</c> checks them (every parameter and buffer, no
    /// other, each of its type and shape), without TorchSharp: ONNX Runtime scores from them, and the
    /// <see cref="ResNet"/> is built of them only when someone needs it (<see cref="Build"/>).
    /// </summary>
    internal sealed class SavedWeights : INamedWeights
    {
        private SavedWeights(ResNetDefinition definition, SavedStateDict state, byte[] sha256)
        {
            Definition = definition;
            State = state;
            Sha256 = sha256;
        }

        public ResNetDefinition Definition { get; }

        /// <summary>The parsed stream.</summary>
        public SavedStateDict State { get; }

        /// <summary>The SHA-256 of the stream's bytes when the load verified it, else null.</summary>
        public byte[] Sha256 { get; }

        /// <summary>
        /// Reads the rest of <paramref name="reader"/>'s stream (without a copy when it is a visible memory stream) and
        /// checks it against <paramref name="definition"/>; <paramref name="sha256"/> is the hash the load verified the
        /// bytes against (null when it did not).
        /// </summary>
        /// <exception cref="InvalidDataException">Not a state dict, or not one of this network.</exception>
        public static SavedWeights Read(BinaryReader reader, ResNetDefinition definition, byte[] sha256 = null)
        {
            byte[] bytes;
            var stream = reader.BaseStream;
            if (stream is MemoryStream memory && stream.Position == 0 && memory.TryGetBuffer(out var segment)
                && segment.Offset == 0 && segment.Count == segment.Array.Length)
                bytes = segment.Array;
            else
            {
                using var copy = new MemoryStream();
                stream.CopyTo(copy);
                bytes = copy.ToArray();
            }
            var state = SavedStateDict.Parse(bytes);
            Check(state, definition);
            return new SavedWeights(definition, state, sha256);
        }

        public bool Contains(string name) => State.TryGet(name, out _);

        public (long[] Shape, ReadOnlyMemory<byte> Float32) Get(string name)
        {
            if (!State.TryGet(name, out var entry))
                return (null, default);
            if (entry.Type != ScalarType.Float32)
                throw new InvalidOperationException($"'{name}' holds {entry.Type}, not float32.");
            // libtorch's memory is little-endian wherever it runs, as ONNX's raw_data is: the saved bytes as they are.
            return (entry.Shape, State.Bytes(entry));
        }

        /// <summary>
        /// The network of these weights (TorchSharp's own <c>load</c> reads the saved bytes), on
        /// <paramref name="device"/>, in eval mode.
        /// </summary>
        public ResNet Build(ComputeDevice device)
        {
            // Not initialised: the saved weights overwrite every parameter and buffer (checked when read).
            var network = new ResNet(Definition, seed: null, initialize: false);
            try
            {
                using (var stream = new MemoryStream(State.Buffer, writable: false))
                using (var reader = new BinaryReader(stream))
                    network.load(reader, strict: true);
                if (device == ComputeDevice.Cuda)
                    network.to(CUDA);
                network.eval();
                return network;
            }
            catch
            {
                network.Dispose();
                throw;
            }
        }

        /// <summary>
        /// Names, types and shapes of the state dict of <paramref name="definition"/>'s <see cref="ResNet"/> (in no
        /// particular order), as its modules (<c>Backbone/</c>) register them.
        /// </summary>
        internal static List<(string Name, ScalarType Type, long[] Shape)> Layout(ResNetDefinition definition)
        {
            var layout = new LayoutBuilder(definition);
            layout.Conv("conv1", 64, 3, 7);
            layout.BatchNorm("bn1", 64);
            long inChannels = 64;
            for (int stage = 0; stage < 4; stage++)
            {
                for (int block = 0; block < definition.Depths[stage]; block++)
                    inChannels = layout.Block($"layer{stage + 1}.{block}", 64L << stage, inChannels,
                        stride: block == 0 && stage > 0 ? 2 : 1);
            }
            if (definition.NumClasses > 0)
                layout.Fc(inChannels);
            return layout.Entries;
        }

        // The entries of each module kind, as Backbone/ registers them.
        private sealed class LayoutBuilder
        {
            private readonly ResNetDefinition _definition;

            public LayoutBuilder(ResNetDefinition definition) => _definition = definition;

            public List<(string Name, ScalarType Type, long[] Shape)> Entries { get; } = new();

            public void Conv(string prefix, long output, long input, long kernel)
            {
                Entries.Add((prefix + ".weight", ScalarType.Float32, new[] { output, input, kernel, kernel }));
                if (_definition.ConvBias)
                    Entries.Add((prefix + ".bias", ScalarType.Float32, new[] { output }));
            }

            public void BatchNorm(string prefix, long channels)
            {
                foreach (var name in new[] { "weight", "bias", "running_mean", "running_var" })
                    Entries.Add(($"{prefix}.{name}", ScalarType.Float32, new[] { channels }));
                Entries.Add((prefix + ".num_batches_tracked", ScalarType.Int64, Array.Empty<long>()));
            }

            // A BasicBlock or Bottleneck and its projection shortcut when the shape changes; returns its output width.
            public long Block(string prefix, long width, long inChannels, long stride)
            {
                long output = width * _definition.Expansion;
                bool basic = _definition.BlockType == ResNetBlockType.Basic;
                Conv(prefix + ".conv1", width, inChannels, basic ? 3 : 1);
                BatchNorm(prefix + ".bn1", width);
                Conv(prefix + ".conv2", width, width, 3);
                BatchNorm(prefix + ".bn2", width);
                if (!basic)
                {
                    Conv(prefix + ".conv3", output, width, 1);
                    BatchNorm(prefix + ".bn3", output);
                }
                if (stride != 1 || inChannels != output)
                {
                    Conv(prefix + ".downsample.0", output, inChannels, 1);
                    BatchNorm(prefix + ".downsample.1", output);
                }
                return output;
            }

            public void Fc(long inChannels)
            {
                Entries.Add(("fc.weight", ScalarType.Float32, new[] { (long)_definition.NumClasses, inChannels }));
                Entries.Add(("fc.bias", ScalarType.Float32, new[] { (long)_definition.NumClasses }));
            }
        }

        // The checks of TorchSharp's strict load, in its words (callers and tests know them), naming the tensor.
        private static void Check(SavedStateDict state, ResNetDefinition definition)
        {
            var layout = Layout(definition);
            string network = $"(the model's network is {definition})";
            if (state.Entries.Count != layout.Count)
                throw new InvalidDataException($"Mismatched state_dict sizes: expected {layout.Count}, but found " +
                    $"{state.Entries.Count} entries {network}.");
            var expected = layout.ToDictionary(e => e.Name, StringComparer.Ordinal);
            foreach (var entry in state.Entries)
            {
                if (!expected.TryGetValue(entry.Name, out var want))
                    throw new InvalidDataException("Mismatched module state names: the target modules does not have " +
                        $"a submodule or buffer named '{entry.Name}' {network}.");
                if (entry.Type != want.Type)
                    throw new InvalidDataException($"Mismatched tensor data types while loading '{entry.Name}': " +
                        $"{entry.Type} saved, {want.Type} expected {network}.");
                if (!entry.Shape.SequenceEqual(want.Shape))
                    throw new InvalidDataException($"Mismatched tensor shape while loading '{entry.Name}': " +
                        $"[{string.Join(", ", entry.Shape)}] saved, [{string.Join(", ", want.Shape)}] expected " +
                        $"{network}.");
            }
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Stages stem..<see cref="Last"/> of a network, BatchNorms in inference form, run by one ONNX Runtime session: the
    /// trainer's frozen prefix on the CPU. Normalised NCHW float32 images in; out, the outputs of the stages asked for
    /// at creation, as NCHW float32 tensors. A snapshot of the weights at creation; one <see cref="Run"/> at a time.
    /// The optimised graph is kept in <see cref="OptimizedModelCache"/>: building the session cost the seed's recipe
    /// about 1 s of its first epoch, opening the kept graph 0.2 s.
    /// </summary>
    internal sealed class OnnxRuntimePrefix : IDisposable
    {
        private const string InputName = "images";
        private static readonly string[] InputNames = { InputName };
        private readonly InferenceSession _session;
        private readonly RunOptions _runOptions = new RunOptions
        {
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        private readonly ResNetStage[] _outputs;
        private readonly string[] _outputNames;
        private float[] _input = Array.Empty<float>();

        private OnnxRuntimePrefix(InferenceSession session, bool fromCache, ResNetStage last, ResNetStage[] outputs)
        {
            _session = session;
            FromCache = fromCache;
            Last = last;
            _outputs = outputs;
            // Graph outputs keep their order (one per stage asked for, in stage order), in an optimised graph too.
            _outputNames = session.OutputNames.ToArray();
            if (_outputNames.Length != outputs.Length)
            {
                session.Dispose();
                throw new InvalidOperationException(
                    $"The prefix graph has {_outputNames.Length} outputs, not the {outputs.Length} it was built with.");
            }
        }

        /// <summary>The last stage run; its output is always among the outputs.</summary>
        public ResNetStage Last { get; }

        /// <summary>Whether the session came from the optimised graph of an earlier run
        /// (<see cref="OptimizedModelCache"/>) instead of an export optimised now.</summary>
        public bool FromCache { get; }

        /// <summary>
        /// Exports stem..<paramref name="last"/> of <paramref name="network"/> for images of
        /// <paramref name="height"/> x <paramref name="width"/> with graph outputs after each stage in
        /// <paramref name="outputs"/> and after <paramref name="last"/>, and opens a session on it with
        /// <paramref name="threads"/> intra-op threads; or opens the optimised graph an earlier run wrote for the same
        /// prefix weights, which needs no export.
        /// </summary>
        public static OnnxRuntimePrefix Create(ResNet network, ResNetStage last, IEnumerable<ResNetStage> outputs,
            long height, long width, int threads)
        {
            if (last < ResNetStage.Stem || last > ResNetStage.Layer4)
                throw new ArgumentOutOfRangeException(nameof(last), last, "A frozen prefix ends at stem..layer4.");
            var wanted = outputs.Where(s => s <= last).Append(last).Distinct().OrderBy(s => s).ToArray();
            threads = Math.Max(1, threads);
            string cached = CachePath(network, wanted, height, width);
            var session = OnnxRuntimeScorer.OpenCached(cached, threads);
            bool fromCache = session != null;
            session ??= OnnxRuntimeScorer.OpenOptimized(Export(network, wanted, height, width), cached, threads);
            return new OnnxRuntimePrefix(session, fromCache, last, wanted);
        }

        // The serialised graph: stem..the last of the wanted stages, an output after each of them.
        private static byte[] Export(ResNet network, ResNetStage[] wanted, long height, long width)
        {
            var last = wanted[^1];
            using var noGrad = no_grad();
            var builder = new OnnxGraphBuilder(new NetworkWeights(network));
            builder.AddInput(InputName, new long[] { -1, 3, height, width });
            var values = new Dictionary<ResNetStage, string> { [ResNetStage.Stem] = builder.Stem(InputName) };
            for (var stage = ResNetStage.Layer1; stage <= last; stage++)
                values[stage] = builder.Layer(values[stage - 1], stage);
            foreach (var stage in wanted)
                builder.AddOutput(values[stage]);
            builder.Graph.Name = $"resnet_prefix_{last.Name()}";
            var proto = OnnxExporter.Wrap(builder.Graph, $"ResNet ({network.Definition}) stem..{last.Name()}, " +
                "normalised NCHW images in, stage outputs out.");
            return Google.Protobuf.MessageExtensions.ToByteArray(proto);
        }

        // The cache entry of this prefix: keyed by the network's shape, the graph's outputs and input size, and the
        // weights and statistics of the prefix's stages only, so that runs from the same pretrained weights share it
        // whatever their heads and later stages hold (hashed in place: about 30 ms for ResNet-18).
        private static string CachePath(ResNet network, ResNetStage[] wanted, long height, long width)
        {
            var last = wanted[^1];
            using var scope = NewDisposeScope();
            using var weights = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            foreach (var (name, tensor) in network.state_dict().OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                if (name.EndsWith("num_batches_tracked", StringComparison.Ordinal)
                    || ResNetStages.OfParameter(name) > last)
                    continue;
                var values = tensor.detach().cpu().to_type(ScalarType.Float32).contiguous();
                weights.AppendData(Encoding.UTF8.GetBytes($"{name} [{string.Join(",", values.shape)}];"));
                weights.AppendData(values.bytes);
            }
            var d = network.Definition; // not its class count: the head is not in the graph
            string description = $"frozen prefix v1|{d.BlockType} [{string.Join(",", d.Depths)}] {d.Variant} " +
                $"{d.BatchNormEpsilon:R} {d.ConvBias}|{string.Join(",", wanted)}|{height}x{width}";
            return OptimizedModelCache.PathOf(Encoding.UTF8.GetBytes(description), weights.GetHashAndReset());
        }

        /// <summary>
        /// The outputs for <paramref name="images"/> ([N, 3, H, W] float32 on the CPU, normalised), by stage; the
        /// caller owns the tensors.
        /// </summary>
        public Dictionary<ResNetStage, Tensor> Run(Tensor images)
        {
            // float32 is held until contiguous() returned (see WeightCopies).
            using (var float32 = images.to_type(ScalarType.Float32))
            using (var contiguous = float32.contiguous())
            {
                long elements = contiguous.numel();
                if (_input.Length < elements)
                    _input = new float[elements];
                MemoryMarshal.Cast<byte, float>(contiguous.bytes).CopyTo(_input);
            }
            using var input = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance,
                _input.AsMemory(0, (int)images.numel()), images.shape);
            using var results = _session.Run(_runOptions, InputNames, new[] { input }, _outputNames);
            var outputs = new Dictionary<ResNetStage, Tensor>();
            for (int i = 0; i < _outputs.Length; i++)
            {
                var shape = results[i].GetTensorTypeAndShape().Shape;
                var tensor = empty(shape, ScalarType.Float32);
                MemoryMarshal.AsBytes(results[i].GetTensorDataAsSpan<float>()).CopyTo(tensor.bytes);
                outputs[_outputs[i]] = tensor;
            }
            return outputs;
        }

        public void Dispose()
        {
            _session.Dispose();
            _runOptions.Dispose();
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Stages stem..<see cref="Last"/> of a network, BatchNorms in inference form, run by one ONNX Runtime session: the
    /// trainer's frozen prefix on the CPU. Normalised NCHW float32 images in; out, the outputs of the stages asked for
    /// at creation, as NCHW float32 tensors. A snapshot of the weights at creation; one <see cref="Run"/> at a time.
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

        private OnnxRuntimePrefix(byte[] model, ResNetStage last, ResNetStage[] outputs, string[] outputNames,
            int threads)
        {
            Last = last;
            _outputs = outputs;
            _outputNames = outputNames;
            using var options = OnnxRuntimeScorer.CreateSessionOptions(threads);
            _session = new InferenceSession(model, options);
        }

        /// <summary>The last stage run; its output is always among the outputs.</summary>
        public ResNetStage Last { get; }

        /// <summary>
        /// Exports stem..<paramref name="last"/> of <paramref name="network"/> for images of
        /// <paramref name="height"/> x <paramref name="width"/> with graph outputs after each stage in
        /// <paramref name="outputs"/> and after <paramref name="last"/>, and opens a session on it with
        /// <paramref name="threads"/> intra-op threads.
        /// </summary>
        public static OnnxRuntimePrefix Create(ResNet network, ResNetStage last, IEnumerable<ResNetStage> outputs,
            long height, long width, int threads)
        {
            if (last < ResNetStage.Stem || last > ResNetStage.Layer4)
                throw new ArgumentOutOfRangeException(nameof(last), last, "A frozen prefix ends at stem..layer4.");
            var wanted = outputs.Where(s => s <= last).Append(last).Distinct().OrderBy(s => s).ToArray();
            byte[] model;
            string[] names;
            using (no_grad())
            {
                var builder = new OnnxGraphBuilder(new NetworkWeights(network));
                builder.AddInput(InputName, new long[] { -1, 3, height, width });
                var values = new Dictionary<ResNetStage, string> { [ResNetStage.Stem] = builder.Stem(InputName) };
                for (var stage = ResNetStage.Layer1; stage <= last; stage++)
                    values[stage] = builder.Layer(values[stage - 1], stage);
                names = wanted.Select(s => values[s]).ToArray();
                foreach (string name in names)
                    builder.AddOutput(name);
                builder.Graph.Name = $"resnet_prefix_{last.Name()}";
                var proto = OnnxExporter.Wrap(builder.Graph, $"ResNet ({network.Definition}) stem..{last.Name()}, " +
                    "normalised NCHW images in, stage outputs out.");
                model = Google.Protobuf.MessageExtensions.ToByteArray(proto);
            }
            return new OnnxRuntimePrefix(model, last, wanted, names, Math.Max(1, threads));
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

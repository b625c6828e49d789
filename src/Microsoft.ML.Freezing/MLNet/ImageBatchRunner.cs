// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Runs a network on a batch of preprocessed images: stacks their RGB bytes, normalises them as the preprocessing
    /// says, runs a forward function on the device and splits its [batch, width] output into one array per image.
    /// One forward pass at a time: PredictionEngines and cursors on several threads share the module. With the
    /// <see cref="InferenceEngine.OnnxRuntime"/> engine, <see cref="TryRunOnnx"/> runs the exported network instead
    /// (one session per output, created at first use, disposed with the runner).
    /// </summary>
    internal sealed class ImageBatchRunner : IDisposable
    {
        private readonly object _lock = new object();
        private readonly Dictionary<(OnnxExportOutput, ResNetStage), OnnxRuntimeScorer> _sessions = new();
        private InferenceEngine _engine;
        private bool _onnxUnavailable;

        public ImageBatchRunner(ResNet network, ImagePreprocessing preprocessing, ComputeDevice device)
        {
            Network = network ?? throw new ArgumentNullException(nameof(network));
            Preprocessing = preprocessing ?? throw new ArgumentNullException(nameof(preprocessing));
            Device = device;
            _engine = device == ComputeDevice.Cpu ? InferenceEngine.OnnxRuntime : InferenceEngine.TorchSharp;
            if (_engine == InferenceEngine.OnnxRuntime)
                OnnxRuntimeScorer.Prepare();
        }

        public ResNet Network { get; }
        public ImagePreprocessing Preprocessing { get; }
        public ComputeDevice Device { get; }

        /// <summary>The engine that scores; setting it (even to the same value) drops the ONNX Runtime sessions, so
        /// the next call snapshots the current weights.</summary>
        public InferenceEngine Engine
        {
            get => _engine;
            set
            {
                if (!Enum.IsDefined(value))
                    throw new ArgumentOutOfRangeException(nameof(value), value, "Unknown inference engine.");
                lock (_lock)
                {
                    DisposeSessions();
                    _engine = value;
                }
            }
        }

        /// <summary>Where an engine fallback is reported (set by the owner; null: standard error).</summary>
        public Action<string> Log { get; set; }

        /// <summary>
        /// <paramref name="output"/> (class probabilities, or the features pooled after <paramref name="stage"/>) for
        /// <paramref name="rgbImages"/> from ONNX Runtime, or null when this runner scores on TorchSharp: another
        /// engine chosen, a CUDA network, a BatchNorm in training mode, or ONNX Runtime unavailable here.
        /// </summary>
        public float[][] TryRunOnnx(IReadOnlyList<byte[]> rgbImages, OnnxExportOutput output,
            ResNetStage stage = ResNetStage.Layer4)
        {
            if (_engine != InferenceEngine.OnnxRuntime || Device != ComputeDevice.Cpu || _onnxUnavailable)
                return null;
            if (rgbImages.Count == 0)
                return Array.Empty<float[]>();
            OnnxRuntimeScorer scorer;
            lock (_lock)
            {
                // A network someone put back in training mode scores with batch statistics, as the module does.
                if (Network.BatchNorms().Any(b => b.Module.training))
                    return null;
                var key = (output, output == OnnxExportOutput.Features ? stage : ResNetStage.Layer4);
                if (!_sessions.TryGetValue(key, out scorer))
                {
                    try
                    {
                        using (no_grad())
                            scorer = OnnxRuntimeScorer.Create(Network, Preprocessing, output, stage,
                                get_num_threads());
                    }
                    catch (Exception e) when (e is DllNotFoundException or TypeInitializationException
                        or EntryPointNotFoundException or BadImageFormatException
                        or Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
                    {
                        _onnxUnavailable = true;
                        string message = "ONNX Runtime could not run this network, so it scores on TorchSharp: " +
                            e.Message;
                        if (Log != null) Log(message);
                        else Console.Error.WriteLine(message);
                        return null;
                    }
                    _sessions[key] = scorer;
                }
                // One forward pass at a time, as on TorchSharp: concurrent runs would share the same cores.
                return scorer.Run(rgbImages);
            }
        }

        /// <summary>
        /// <paramref name="forward"/>'s output for <paramref name="rgbImages"/> (RGB bytes as
        /// <see cref="ImagePreprocessing"/> produces), one row per image.
        /// </summary>
        public float[][] Run(IReadOnlyList<byte[]> rgbImages, Func<Tensor, Tensor> forward)
        {
            if (rgbImages.Count == 0)
                return Array.Empty<float[]>();
            var flat = Stack(rgbImages);
            int side = Preprocessing.ImageSize;
            float[] values;
            lock (_lock)
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                var bytes = tensor(flat, new long[] { rgbImages.Count, side, side, 3 });
                var images = Preprocessing.Normalize(bytes).to(Device == ComputeDevice.Cuda ? CUDA : CPU);
                values = forward(images).flatten(1).cpu().data<float>().ToArray();
            }
            return Split(values, rgbImages.Count);
        }

        /// <summary>Releases the ONNX Runtime sessions and the network.</summary>
        public void Dispose()
        {
            lock (_lock)
                DisposeSessions();
            Network.Dispose();
        }

        private void DisposeSessions()
        {
            foreach (var session in _sessions.Values)
                session.Dispose();
            _sessions.Clear();
        }

        private byte[] Stack(IReadOnlyList<byte[]> rgbImages)
        {
            int side = Preprocessing.ImageSize;
            int imageBytes = side * side * 3;
            var flat = new byte[rgbImages.Count * imageBytes];
            for (int i = 0; i < rgbImages.Count; i++)
            {
                if (rgbImages[i] is null || rgbImages[i].Length != imageBytes)
                    throw new ArgumentException($"Image {i} must be {side}x{side}x3 = {imageBytes} RGB bytes; " +
                        $"got {rgbImages[i]?.Length ?? 0}.", nameof(rgbImages));
                Buffer.BlockCopy(rgbImages[i], 0, flat, i * imageBytes, imageBytes);
            }
            return flat;
        }

        private static float[][] Split(float[] values, int count)
        {
            int width = values.Length / count;
            var result = new float[count][];
            for (int i = 0; i < count; i++)
                result[i] = values.AsSpan(i * width, width).ToArray();
            return result;
        }
    }
}

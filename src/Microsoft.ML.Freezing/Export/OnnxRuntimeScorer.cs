// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using Microsoft.ML.OnnxRuntime;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// A network exported in memory by <see cref="OnnxExporter"/> (interleaved RGB 0-255 in, the preprocessing's
    /// normalisation inside) and run by one ONNX Runtime session: the <see cref="InferenceEngine.OnnxRuntime"/> engine.
    /// Holds a snapshot of the weights at creation. <see cref="Run"/> is thread-safe (ONNX Runtime's sessions are).
    /// </summary>
    internal sealed class OnnxRuntimeScorer : IDisposable
    {
        private readonly InferenceSession _session;
        private readonly RunOptions _runOptions;
        private readonly string[] _inputNames;
        private readonly string[] _outputNames;
        private readonly int _side;
        private float[] _pixels = Array.Empty<float>();

        private OnnxRuntimeScorer(byte[] model, int side, string input, string output, int threads)
        {
            _side = side;
            _inputNames = new[] { input };
            _outputNames = new[] { output };
            using var options = new SessionOptions
            {
                IntraOpNumThreads = threads,
                InterOpNumThreads = 1,
                ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
                GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
                // Quiet: ONNX Runtime's warnings would reach the user's console.
                LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
                // ONNX Runtime's memory arena stays on, as in the peer's session: without it a serving process's peak
                // (ResNet-18, one prediction, then Transform over 64 JPEGs) was 630-650 MB instead of 770 MB, but a
                // batch of 32 ran at 0.83x of the peer instead of 0.96x (page faults on every run's activations).
                EnableCpuMemArena = true,
            };
            _session = new InferenceSession(model, options);
            _runOptions = new RunOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        }

        /// <summary>
        /// Loads ONNX Runtime's native library and creates its environment on a thread-pool thread, once per process,
        /// so that a model's first prediction does not wait for them (a cold start on 2 cores: about 40-150 ms).
        /// </summary>
        public static void Prepare()
        {
            if (System.Threading.Interlocked.Exchange(ref _prepared, 1) != 0)
                return;
            System.Threading.Tasks.Task.Run(() =>
            {
                try
                {
                    _ = OrtEnv.Instance();
                }
                catch (Exception)
                {
                    // Reported, with the fallback to TorchSharp, when a session is created.
                }
            });
        }

        private static int _prepared;

        /// <summary>
        /// Exports <paramref name="network"/> (class probabilities, or the pooled features after
        /// <paramref name="featureStage"/>) and opens a session on it with <paramref name="threads"/> intra-op threads.
        /// </summary>
        public static OnnxRuntimeScorer Create(ResNet network, ImagePreprocessing preprocessing,
            OnnxExportOutput output, ResNetStage featureStage, int threads)
        {
            var options = new OnnxExportOptions
            {
                InputLayout = OnnxInputLayout.Nhwc, Output = output, FeatureStage = featureStage,
            };
            byte[] model;
            {
                var proto = OnnxExporter.CreateModel(network, preprocessing, options);
                model = Google.Protobuf.MessageExtensions.ToByteArray(proto);
            }
            // The protobuf copy of the weights is garbage now: give it back before ONNX Runtime makes its own copies.
            // A serving process's peak after its first prediction: 475 MB instead of 595-620 MB (ResNet-18), once per
            // session.
            GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            options.Check();
            return new OnnxRuntimeScorer(model, preprocessing.ImageSize, options.InputName, options.OutputName,
                Math.Max(1, threads));
        }

        /// <summary>
        /// The output rows for <paramref name="rgbImages"/> (each <c>S x S x 3</c> RGB bytes), run as one batch. One
        /// call at a time (the caller's lock): the pixel buffer is reused.
        /// </summary>
        public float[][] Run(IReadOnlyList<byte[]> rgbImages)
        {
            int count = rgbImages.Count;
            int imageBytes = _side * _side * 3;
            if (_pixels.Length != (long)count * imageBytes)
                _pixels = new float[(long)count * imageBytes];
            var pixels = _pixels;
            for (int i = 0; i < count; i++)
            {
                var image = rgbImages[i];
                if (image is null || image.Length != imageBytes)
                    throw new ArgumentException($"Image {i} must be {_side}x{_side}x3 = {imageBytes} RGB bytes; " +
                        $"got {image?.Length ?? 0}.", nameof(rgbImages));
                var target = pixels.AsSpan(i * imageBytes, imageBytes);
                for (int j = 0; j < image.Length; j++)
                    target[j] = image[j];
            }
            using var input = OrtValue.CreateTensorValueFromMemory(pixels, new long[] { count, _side, _side, 3 });
            using var outputs = _session.Run(_runOptions, _inputNames, new[] { input }, _outputNames);
            var values = outputs[0].GetTensorDataAsSpan<float>();
            int width = values.Length / count;
            var rows = new float[count][];
            for (int i = 0; i < count; i++)
                rows[i] = values.Slice(i * width, width).ToArray();
            return rows;
        }

        public void Dispose()
        {
            _session.Dispose();
            _runOptions.Dispose();
        }
    }
}

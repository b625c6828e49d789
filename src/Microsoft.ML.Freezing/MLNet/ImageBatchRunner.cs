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
    /// <remarks>
    /// A loaded model's runner holds its saved weights (<see cref="SavedWeights"/>) and builds the TorchSharp
    /// <see cref="Network"/> of them only when someone asks for it (once, whichever thread asks first): scoring with
    /// ONNX Runtime then never loads libtorch (about 75 MB resident, and the module's copy of the weights).
    /// </remarks>
    internal sealed class ImageBatchRunner : IDisposable
    {
        private readonly object _lock = new object();
        private readonly object _networkLock = new object();
        private readonly Dictionary<(OnnxExportOutput, ResNetStage), OnnxRuntimeScorer> _sessions = new();
        private InferenceEngine _engine;
        private bool _onnxUnavailable;
        private ResNet _network;
        private SavedWeights _saved;
        private bool _disposed;

        /// <summary>A runner of a live network (a trained one, or one given by the caller); puts it in eval
        /// mode.</summary>
        public ImageBatchRunner(ResNet network, ImagePreprocessing preprocessing, ComputeDevice device)
            : this(preprocessing, device, (network ?? throw new ArgumentNullException(nameof(network))).Definition)
        {
            _network = network;
            network.eval();
        }

        /// <summary>A runner of saved weights: the network is built of them at its first use.</summary>
        public ImageBatchRunner(SavedWeights saved, ImagePreprocessing preprocessing, ComputeDevice device)
            : this(preprocessing, device, (saved ?? throw new ArgumentNullException(nameof(saved))).Definition)
        {
            _saved = saved;
        }

        private ImageBatchRunner(ImagePreprocessing preprocessing, ComputeDevice device, ResNetDefinition definition)
        {
            Preprocessing = preprocessing ?? throw new ArgumentNullException(nameof(preprocessing));
            Device = device;
            Definition = definition;
            _engine = device == ComputeDevice.Cpu ? InferenceEngine.OnnxRuntime : InferenceEngine.TorchSharp;
            if (_engine == InferenceEngine.OnnxRuntime)
                OnnxRuntimeScorer.Prepare();
        }

        /// <summary>The TorchSharp module (eval mode when built here), built of the saved weights at the first
        /// call.</summary>
        public ResNet Network
        {
            get
            {
                lock (_networkLock)
                {
                    if (_network is null)
                    {
                        ObjectDisposedException.ThrowIf(_disposed, this);
                        _network = _saved.Build(Device);
                        // The module holds the weights now, and ONNX Runtime reads them from it.
                        _saved = null;
                    }
                    return _network;
                }
            }
        }

        /// <summary>Whether <see cref="Network"/> exists (was given, or built since).</summary>
        public bool HasNetwork
        {
            get
            {
                lock (_networkLock)
                    return _network is not null;
            }
        }

        /// <summary>The current weights: the module's once it exists, else the saved ones (without
        /// TorchSharp).</summary>
        public INamedWeights Weights()
        {
            lock (_networkLock)
            {
                if (_network is not null)
                    return new NetworkWeights(_network);
                ObjectDisposedException.ThrowIf(_disposed, this);
                return _saved;
            }
        }

        /// <summary>The network's shape (known without building it).</summary>
        public ResNetDefinition Definition { get; }
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
                ResNet network;
                SavedWeights saved;
                lock (_networkLock)
                {
                    ObjectDisposedException.ThrowIf(_disposed, this);
                    (network, saved) = (_network, _saved);
                }
                // A network someone put back in training mode scores with batch statistics, as the module does.
                if (network is not null && network.BatchNorms().Any(b => b.Module.training))
                    return null;
                var key = (output, output == OnnxExportOutput.Features ? stage : ResNetStage.Layer4);
                if (!_sessions.TryGetValue(key, out scorer))
                {
                    try
                    {
                        scorer = network is null ? CreateScorer(saved, output, stage)
                            : CreateScorer(network, output, stage);
                    }
                    catch (Exception e) when (OnnxRuntimeScorer.CannotRun(e))
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

        // Saved weights: nothing here may touch TorchSharp (that would load libtorch).
        private OnnxRuntimeScorer CreateScorer(SavedWeights saved, OnnxExportOutput output, ResNetStage stage)
            => OnnxRuntimeScorer.Create(saved, Preprocessing, output, stage, LibTorchSettings.IntraOpThreads());

        private OnnxRuntimeScorer CreateScorer(ResNet network, OnnxExportOutput output, ResNetStage stage)
        {
            using (no_grad())
                return OnnxRuntimeScorer.Create(new NetworkWeights(network), Preprocessing, output, stage,
                    get_num_threads());
        }

        /// <summary>
        /// <paramref name="forward"/>'s output for <paramref name="rgbImages"/> (RGB bytes as
        /// <see cref="ImagePreprocessing"/> produces), one row per image.
        /// </summary>
        public float[][] Run(IReadOnlyList<byte[]> rgbImages, Func<Tensor, Tensor> forward)
        {
            if (rgbImages.Count == 0)
                return Array.Empty<float[]>();
            float[] values;
            lock (_lock)
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                var images = Preprocessing.NormalizeImages(rgbImages).to(Device == ComputeDevice.Cuda ? CUDA : CPU);
                values = forward(images).flatten(1).cpu().data<float>().ToArray();
            }
            return Split(values, rgbImages.Count);
        }

        /// <summary>Releases the ONNX Runtime sessions and the network (when it was built).</summary>
        public void Dispose()
        {
            lock (_lock)
                DisposeSessions();
            lock (_networkLock)
            {
                _disposed = true;
                _saved = null;
                _network?.Dispose();
            }
        }

        private void DisposeSessions()
        {
            foreach (var session in _sessions.Values)
                session.Dispose();
            _sessions.Clear();
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

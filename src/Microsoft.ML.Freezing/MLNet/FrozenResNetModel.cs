// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// What a fitted <see cref="FrozenResNetTransformer"/> holds: the network's definition, the class names (the
    /// label's key values, in key order), the preprocessing contract, and the TorchSharp module itself for power users.
    /// </summary>
    public sealed class FrozenResNetModel : IDisposable
    {
        internal FrozenResNetModel(ResNet network, IReadOnlyList<string> classNames, ImagePreprocessing preprocessing,
            ComputeDevice device)
            : this(new ImageBatchRunner(network, preprocessing, device), classNames)
        {
        }

        /// <summary>A model of <paramref name="runner"/>'s network (a loaded model's: built when first
        /// needed).</summary>
        internal FrozenResNetModel(ImageBatchRunner runner, IReadOnlyList<string> classNames)
        {
            Runner = runner;
            ClassNames = classNames?.ToArray() ?? throw new ArgumentNullException(nameof(classNames));
            if (runner.Definition.NumClasses != ClassNames.Count)
                throw new ArgumentException($"The network has {runner.Definition.NumClasses} outputs but " +
                    $"{ClassNames.Count} class names were given.");
        }

        /// <summary>The network's shape.</summary>
        public ResNetDefinition Definition => Runner.Definition;
        /// <summary>Class names in key order (key k is class k-1).</summary>
        public IReadOnlyList<string> ClassNames { get; }
        /// <summary>The preprocessing contract every consumer of this model reads.</summary>
        public ImagePreprocessing Preprocessing => Runner.Preprocessing;
        /// <summary>The TorchSharp module (eval mode). Changing it changes the model (for the ONNX Runtime engine, once
        /// <see cref="Engine"/> is set again). A loaded model builds it at the first call (loading libtorch), which
        /// scoring with ONNX Runtime does not need.</summary>
        public ResNet Network => Runner.Network;
        /// <summary>Where scoring runs.</summary>
        public ComputeDevice Device => Runner.Device;

        /// <summary>
        /// What runs the network when this model scores (<see cref="Score"/>, and the transformer's <c>Transform</c>
        /// and <c>PredictionEngine</c>, which share this setting): <see cref="InferenceEngine.OnnxRuntime"/> by default
        /// on the CPU, <see cref="InferenceEngine.TorchSharp"/> on CUDA. Not saved with the model. Setting it, even to
        /// the same value, makes ONNX Runtime take a new snapshot of the weights at its next use.
        /// </summary>
        public InferenceEngine Engine
        {
            get => Runner.Engine;
            set => Runner.Engine = value;
        }

        /// <summary>The batched forward pass, shared with the transformer that holds this model.</summary>
        internal ImageBatchRunner Runner { get; }

        /// <summary>
        /// Class probabilities of preprocessed images (RGB bytes as <see cref="ImagePreprocessing"/> produces), one
        /// array per image, scored as one batch by <see cref="Engine"/>. On TorchSharp, with the current weights, a
        /// batch of <see cref="FoldingBatchSize"/> images or more runs the network with its BatchNorms folded into the
        /// convolutions (see <see cref="ResNet.Fold(ResNetStage, ResNetStage, InferencePrecision)"/>): the same
        /// probabilities up to float rounding, faster.
        /// </summary>
        public float[][] Score(IReadOnlyList<byte[]> rgbImages)
        {
            if (rgbImages is null) throw new ArgumentNullException(nameof(rgbImages));
            if (rgbImages.Count == 0)
                return Array.Empty<float[]>();
            var onnx = Runner.TryRunOnnx(rgbImages, OnnxExportOutput.Probabilities);
            if (onnx != null)
                return onnx;
            if (rgbImages.Count < FoldingBatchSize)
                // folding (10-50 ms for ResNet-18) would cost more than it saves
                return Probabilities(rgbImages, Network.call);
            using var scorer = new BatchScorer(this);
            return scorer.Score(rgbImages);
        }

        /// <summary>The smallest batch that <see cref="Score"/> runs folded on TorchSharp.</summary>
        public const int FoldingBatchSize = 8;

        /// <summary>
        /// A scorer for a pass over many batches: with the ONNX Runtime engine, the model's session; on TorchSharp,
        /// folds the network once, on first use, and scores every batch with that snapshot (the weights at that
        /// moment). Dispose it.
        /// </summary>
        internal sealed class BatchScorer : IDisposable
        {
            private readonly FrozenResNetModel _model;
            private FoldedResNet _folded;
            private bool _folding = true;

            private readonly Action<string> _log;

            /// <param name="model">The model to score with.</param>
            /// <param name="log">Where a convolution-route fallback of the fold is reported (null: the static
            /// event).</param>
            public BatchScorer(FrozenResNetModel model, Action<string> log = null)
            {
                _model = model;
                _log = log;
            }

            public float[][] Score(IReadOnlyList<byte[]> rgbImages)
            {
                if (rgbImages.Count == 0)
                    return Array.Empty<float[]>();
                if (_folded is null)
                {
                    var onnx = _model.Runner.TryRunOnnx(rgbImages, OnnxExportOutput.Probabilities);
                    if (onnx != null)
                        return onnx;
                }
                return _model.Probabilities(rgbImages, images =>
                {
                    if (_folded is null && _folding)
                    {
                        // A network someone put back in training mode scores with batch statistics, as the module does.
                        _folding = !_model.Network.BatchNorms().Any(b => b.Module.training);
                        if (_folding)
                            _folded = _model.Network.Fold(ResNetStage.Stem, ResNetStage.Head,
                                InferencePrecision.Float32, _log);
                    }
                    return _folded is null ? _model.Network.call(images) : _folded.Forward(images);
                });
            }

            public void Dispose()
            {
                _folded?.Dispose();
                _folded = null;
            }
        }

        // Probabilities of a batch: softmax of the logits that network gives for the normalised images.
        private float[][] Probabilities(IReadOnlyList<byte[]> rgbImages, Func<Tensor, Tensor> network)
            => Runner.Run(rgbImages, images => nn.functional.softmax(network(images), 1));

        /// <summary>Releases the network and the ONNX Runtime sessions.</summary>
        public void Dispose() => Runner.Dispose();
    }
}

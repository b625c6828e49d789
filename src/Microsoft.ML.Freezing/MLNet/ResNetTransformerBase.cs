// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// What the transformers that run a ResNet on an image column share: the network, its preprocessing and device,
    /// the image column and its check, and the batched forward pass. <see cref="FrozenResNetTransformer"/> scores
    /// classes with it, <see cref="ResNetFeaturizerTransformer"/> pools a stage's activations.
    /// </summary>
    public abstract class ResNetTransformerBase : RowToRowTransformerBase, ITransformer, IDisposable
    {
        private readonly string _imageColumnRole;

        /// <param name="host">The component's host.</param>
        /// <param name="runner">The network, preprocessing and device, shared with whoever else scores with
        /// them.</param>
        /// <param name="imageColumnName">The image column read.</param>
        /// <param name="imageColumnRole">How errors name the column: "feature", "image".</param>
        private protected ResNetTransformerBase(IHost host, ImageBatchRunner runner, string imageColumnName,
            string imageColumnRole)
            : base(host)
        {
            Runner = runner;
            ImageColumnName = imageColumnName;
            _imageColumnRole = imageColumnRole;
            // The runner put a given network in eval mode, and builds a loaded one in eval mode when it is needed.
            Runner.Log ??= Warn;
        }

        /// <summary>An engine fallback, in ML.NET's log (<c>MLContext.Log</c>, as a warning).</summary>
        private void Warn(string message)
        {
            using var channel = Host.Start(GetType().Name);
            channel.Warning(message);
        }

        /// <summary>The TorchSharp module (eval mode). Changing it changes the transformer (for the ONNX Runtime
        /// engine, once <see cref="Engine"/> is set again). A loaded model builds it at the first call (loading
        /// libtorch), which scoring with ONNX Runtime does not need.</summary>
        public ResNet Network => Runner.Network;
        /// <summary>The preprocessing contract applied to every image (from the source of the weights).</summary>
        public ImagePreprocessing Preprocessing => Runner.Preprocessing;
        /// <summary>Where the network runs.</summary>
        public ComputeDevice Device => Runner.Device;

        /// <summary>
        /// What runs the network in <c>Transform</c>, a <c>PredictionEngine</c> and the direct scoring methods:
        /// <see cref="InferenceEngine.OnnxRuntime"/> by default on the CPU, <see cref="InferenceEngine.TorchSharp"/> on
        /// CUDA. Not saved with the model. Setting it, even to the same value, makes ONNX Runtime take a new snapshot
        /// of the weights at its next use.
        /// </summary>
        public InferenceEngine Engine
        {
            get => Runner.Engine;
            set => Runner.Engine = value;
        }

        internal ImageBatchRunner Runner { get; }
        private protected string ImageColumnName { get; }

        /// <summary>
        /// Runs the network on <paramref name="input"/> lazily, in batches with images read ahead (a
        /// <c>PredictionEngine</c> uses the row-to-row mapper instead).
        /// </summary>
        // Declared here, with ITransformer in this class's list, so that calls through ITransformer (a
        // TransformerChain) reach the batched view rather than RowToRowTransformerBase.Transform.
        public new IDataView Transform(IDataView input)
        {
            Host.CheckValue(input, nameof(input));
            return MakeBatchedView(input, base.Transform(input));
        }

        /// <summary>The batched view of <paramref name="input"/>; <paramref name="rowByRow"/> gives its
        /// schema.</summary>
        private protected abstract IDataView MakeBatchedView(IDataView input, IDataView rowByRow);

        /// <summary>Releases the network and the ONNX Runtime sessions.</summary>
        public void Dispose() => Runner.Dispose();

        /// <summary>Index of the image column, with a clear error when it is absent or of another type.</summary>
        internal int ImageColumnIndex(DataViewSchema schema)
            => ImageColumn.Index(Host, schema, ImageColumnName, _imageColumnRole);

        /// <summary>
        /// <paramref name="forward"/>'s output for preprocessed images, one array per image, computed as one batch.
        /// </summary>
        private protected float[][] Forward(IReadOnlyList<byte[]> rgbImages, Func<TorchSharp.torch.Tensor,
            TorchSharp.torch.Tensor> forward)
        {
            Host.CheckValue(rgbImages, nameof(rgbImages));
            return Runner.Run(rgbImages, forward);
        }

        /// <summary>Copies a row's result into an ML.NET vector value.</summary>
        internal static void WriteVector(float[] values, ref VBuffer<float> value)
        {
            var editor = VBufferEditor.Create(ref value, values.Length);
            values.AsSpan().CopyTo(editor.Values);
            value = editor.Commit();
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// What runs a fitted network when it scores or featurizes images (<c>Transform</c>, <c>PredictionEngine</c>,
    /// <see cref="FrozenResNetModel.Score"/>, <see cref="ResNetFeaturizerTransformer.GetFeatures"/>), and what runs the
    /// frozen prefix in training (<see cref="FineTuneSettings.FrozenPrefixEngine"/>). The trainable stages always
    /// train on TorchSharp.
    /// </summary>
    public enum InferenceEngine
    {
        /// <summary>
        /// The default on the CPU: the network is exported in memory (<see cref="OnnxExporter"/>, BatchNorms in eval
        /// form) at its first use and run by an ONNX Runtime session with as many threads as TorchSharp uses
        /// (<c>NumberOfThreads</c>). The session holds a snapshot of the weights at that moment; after changing the
        /// weights of <c>Network</c>, set the engine again to take a new snapshot. A network on CUDA, or with a
        /// BatchNorm in training mode, runs on TorchSharp. Same scores as <see cref="TorchSharp"/> up to float
        /// rounding.
        /// </summary>
        OnnxRuntime = 0,

        /// <summary>
        /// The TorchSharp modules (libtorch): batches of <see cref="FrozenResNetModel.FoldingBatchSize"/> images or
        /// more run with BatchNorms folded into the convolutions, smaller ones (a <c>PredictionEngine</c>'s single
        /// row) through the modules. Follows every change to the weights.
        /// </summary>
        TorchSharp = 1,
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// What a weights importer produces: the network the weights define, the preprocessing they expect, and a
    /// torchvision-named state dict (parameters and BatchNorm buffers). Importers know nothing of training.
    /// </summary>
    public sealed class ConvertedWeights : IDisposable
    {
        /// <summary>Takes ownership of the tensors of <paramref name="stateDict"/>.</summary>
        public ConvertedWeights(ResNetDefinition definition, ImagePreprocessing preprocessing,
            IReadOnlyDictionary<string, Tensor> stateDict)
        {
            Definition = definition ?? throw new ArgumentNullException(nameof(definition));
            Preprocessing = preprocessing ?? throw new ArgumentNullException(nameof(preprocessing));
            StateDict = stateDict ?? throw new ArgumentNullException(nameof(stateDict));
        }

        /// <summary>The network the weights define (their own head's class count; 0 when they have no head).</summary>
        public ResNetDefinition Definition { get; }
        /// <summary>The preprocessing the weights were trained with.</summary>
        public ImagePreprocessing Preprocessing { get; }
        /// <summary>Tensors by torchvision-style name.</summary>
        public IReadOnlyDictionary<string, Tensor> StateDict { get; }

        /// <summary>
        /// Copies the tensors into a network of <see cref="Definition"/>. A missing, unexpected or mis-shaped key is an
        /// error that lists every such key (<c>num_batches_tracked</c> may be absent).
        /// </summary>
        public void LoadInto(ResNet network) => StateDictLoader.Load(network, StateDict, "converted weights");

        /// <inheritdoc/>
        public void Dispose()
        {
            foreach (var tensor in StateDict.Values)
                tensor.Dispose();
        }
    }
}

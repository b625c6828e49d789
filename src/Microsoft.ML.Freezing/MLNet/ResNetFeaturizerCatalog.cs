// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Freezing
{
    /// <summary>Catalog entry points of the ResNet featurizer.</summary>
    public static class ResNetFeaturizerCatalog
    {
        // Two overloads with optional parameters (RS0026): the third parameter's type (weights or a fitted model) tells
        // them apart, and both were there before the API was tracked.
#pragma warning disable RS0026
        /// <summary>
        /// Featurizes an image column (encoded bytes or <c>MLImage</c>) with pretrained weights: the
        /// global-average-pooled activations after <paramref name="stage"/>, a float vector of the stage's channel
        /// count (512 after layer4 of a ResNet-18, 2048 of a ResNet-50), computed in batches with the weights'
        /// preprocessing.
        /// </summary>
        /// <param name="catalog">The transforms catalog.</param>
        /// <param name="outputColumnName">The float vector column written.</param>
        /// <param name="inputColumnName">The image column read; null reads <paramref name="outputColumnName"/> (and
        /// replaces it).</param>
        /// <param name="weights">
        /// The backbone, e.g. <see cref="PretrainedWeights.KerasResNet50"/>; null (the default) for ML.NET's ResNet-18
        /// (<see cref="PretrainedWeights.MLNetResNet18"/>).
        /// </param>
        /// <param name="stage">The stage whose output is pooled, stem to layer4.</param>
        /// <param name="imageSize">Square input side in pixels; null keeps the weights' (224).</param>
        public static ResNetFeaturizerEstimator ResNetFeatures(this TransformsCatalog catalog, string outputColumnName,
            string inputColumnName,
            PretrainedWeights weights = null, ResNetStage stage = ResNetStage.Layer4, int? imageSize = null)
            => ResNetFeatures(catalog, new ResNetFeaturizerEstimator.Options
            {
                OutputColumnName = outputColumnName,
                InputColumnName = inputColumnName,
                Weights = weights,
                Stage = stage,
                ImageSize = imageSize,
            });

        /// <summary>
        /// Featurizes an image column with the fine-tuned backbone of a fitted FrozenResNet model (its head is dropped)
        /// and that model's preprocessing: the global-average-pooled activations after <paramref name="stage"/>.
        /// </summary>
        /// <param name="catalog">The transforms catalog.</param>
        /// <param name="outputColumnName">The float vector column written.</param>
        /// <param name="inputColumnName">The image column read; null reads <paramref name="outputColumnName"/> (and
        /// replaces it).</param>
        /// <param name="model">The fitted model; its network is copied at <c>Fit</c>.</param>
        /// <param name="stage">The stage whose output is pooled, stem to layer4.</param>
        public static ResNetFeaturizerEstimator ResNetFeatures(this TransformsCatalog catalog, string outputColumnName,
            string inputColumnName,
            FrozenResNetTransformer model, ResNetStage stage = ResNetStage.Layer4)
            => ResNetFeatures(catalog, new ResNetFeaturizerEstimator.Options
            {
                OutputColumnName = outputColumnName,
                InputColumnName = inputColumnName,
                Model = model,
                Stage = stage,
            });
#pragma warning restore RS0026

        /// <summary>Featurizes an image column with every setting of <paramref name="options"/>.</summary>
        public static ResNetFeaturizerEstimator ResNetFeatures(this TransformsCatalog catalog,
            ResNetFeaturizerEstimator.Options options)
        {
            Contracts.CheckValue(catalog, nameof(catalog));
            return new ResNetFeaturizerEstimator(CatalogUtils.GetEnvironment(catalog), options);
        }
    }
}

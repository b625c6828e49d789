// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System.Linq;
using Microsoft.ML.Freezing;

namespace Samples.Serving
{
    /// <summary>
    /// The JSON of <c>GET /model</c>, read from the loaded <see cref="FrozenResNetTransformer"/>'s public surface:
    /// class names, the network, the preprocessing contract and the training history (one record per epoch).
    /// </summary>
    public static class ModelDescription
    {
        public static object Of(LoadedModel loaded)
        {
            var frozen = loaded.Frozen;
            return new
            {
                path = loaded.Path,
                sha256 = loaded.Sha256,
                generation = loaded.Generation,
                loadedAt = loaded.LoadedAt,
                scoring = loaded.Scorer.Kind,
                classNames = loaded.ClassNames,
                network = Network(frozen.Model),
                preprocessing = Preprocessing(frozen.Model.Preprocessing),
                columns = new { feature = frozen.FeatureColumnName, score = frozen.ScoreColumnName },
                history = frozen.History.Select(h => Epoch(h.Record)).ToArray(),
            };
        }

        private static object Network(FrozenResNetModel model)
        {
            var definition = model.Definition;
            return new
            {
                description = definition.ToString(),
                blockType = definition.BlockType.ToString(),
                depths = definition.Depths,
                variant = definition.Variant.ToString(),
                classes = definition.NumClasses,
                featureDimension = definition.FeatureDimension,
                parameters = model.Network.parameters().Sum(x => x.numel()),
            };
        }

        private static object Preprocessing(ImagePreprocessing p) => new
        {
            description = p.ToString(),
            imageSize = p.ImageSize,
            resize = p.Resize.ToString(),
            interpolation = p.Interpolation.ToString(),
            exifOrientation = p.ApplyExifOrientation,
            channels = p.Channels.ToString(),
            scale = p.Scale,
            mean = p.Mean,
            std = p.Std,
        };

        private static object Epoch(EpochRecord r) => new
        {
            epoch = r.Epoch,
            frozenStages = r.FrozenStages?.Select(s => s.Name()).ToArray(),
            trainableParameters = r.TrainableParameters,
            stageLearningRates = r.StageLearningRates?.ToDictionary(kv => kv.Key.Name(), kv => kv.Value),
            trainLoss = r.TrainLoss,
            trainAccuracy = r.TrainAccuracy,
            validationLoss = r.ValidationLoss,
            validationAccuracy = r.ValidationAccuracy,
            imagesPerSecond = r.ImagesPerSecond,
            thawReason = r.ThawReason,
            restoredEpoch = r.RestoredEpoch,
            stopReason = r.StopReason,
            seconds = r.Duration.TotalSeconds,
        };
    }
}

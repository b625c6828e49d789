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
            var definition = frozen.Model.Definition;
            var p = frozen.Model.Preprocessing;
            return new
            {
                path = loaded.Path,
                sha256 = loaded.Sha256,
                generation = loaded.Generation,
                loadedAt = loaded.LoadedAt,
                scoring = loaded.Scorer.Kind,
                classNames = loaded.ClassNames,
                network = new
                {
                    description = definition.ToString(),
                    blockType = definition.BlockType.ToString(),
                    depths = definition.Depths,
                    variant = definition.Variant.ToString(),
                    classes = definition.NumClasses,
                    featureDimension = definition.FeatureDimension,
                    parameters = frozen.Model.Network.parameters().Sum(x => x.numel()),
                },
                preprocessing = new
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
                },
                columns = new { feature = frozen.FeatureColumnName, score = frozen.ScoreColumnName },
                history = frozen.History.Select(h => h.Record).Select(r => new
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
                }).ToArray(),
            };
        }
    }
}

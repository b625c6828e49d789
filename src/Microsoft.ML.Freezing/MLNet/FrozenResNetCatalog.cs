// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Freezing
{
    /// <summary>Catalog entry points of the FrozenResNet trainer.</summary>
    public static class FrozenResNetCatalog
    {
        /// <summary>
        /// Fine-tunes a ResNet-18 on an image column (encoded bytes or <c>MLImage</c>) and a key-typed label, with the
        /// defaults of <see cref="FrozenResNetTrainer.Options"/>. A drop-in for Model Builder's
        /// <c>ImageClassification</c>.
        /// </summary>
        public static FrozenResNetTrainer FrozenResNet(
            this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
            string labelColumnName = "Label", string featureColumnName = "Features",
            string scoreColumnName = "Score", string predictedLabelColumnName = "PredictedLabel",
            IDataView validationSet = null)
            => FrozenResNet(catalog, new FrozenResNetTrainer.Options
            {
                LabelColumnName = labelColumnName,
                FeatureColumnName = featureColumnName,
                ScoreColumnName = scoreColumnName,
                PredictedLabelColumnName = predictedLabelColumnName,
                ValidationSet = validationSet,
            });

        /// <summary>Fine-tunes a ResNet with every setting of <paramref name="options"/>.</summary>
        public static FrozenResNetTrainer FrozenResNet(
            this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
            FrozenResNetTrainer.Options options)
        {
            Contracts.CheckValue(catalog, nameof(catalog));
            return new FrozenResNetTrainer(CatalogUtils.GetEnvironment(catalog), options);
        }
    }
}

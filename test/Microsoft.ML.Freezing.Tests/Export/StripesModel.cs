// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using Microsoft.ML.Freezing.Tests.MLNet;

namespace Microsoft.ML.Freezing.Tests.Export
{
    /// <summary>
    /// One briefly fine-tuned FrozenResNet pipeline on the generated stripes (32 px, ML.NET's pretrained ResNet-18:
    /// BGR, mean-subtracted 0-255 preprocessing), trained on first use and shared by the export and featurizer tests
    /// (tests run one at a time). Never disposed: it lives as long as the test process.
    /// </summary>
    internal static class StripesModel
    {
        public const int Side = 32;

        private static readonly Lazy<(MLContext Ml, ITransformer Pipeline)> Trained =
            new Lazy<(MLContext, ITransformer)>(Train);

        public static MLContext Ml => Trained.Value.Ml;

        /// <summary>MapValueToKey, FrozenResNet, MapKeyToValue.</summary>
        public static ITransformer Pipeline => Trained.Value.Pipeline;

        /// <summary>The fitted FrozenResNet inside <see cref="Pipeline"/>.</summary>
        public static FrozenResNetTransformer Transformer
            => ((IEnumerable<ITransformer>)Pipeline).OfType<FrozenResNetTransformer>().Single();

        private static (MLContext, ITransformer) Train()
        {
            var watch = Stopwatch.StartNew();
            var ml = new MLContext(seed: 1);
            var train = ml.Data.LoadFromEnumerable(GeneratedImages.Stripes(96, seed: 31, size: Side));
            var weights = PretrainedWeights.MLNetResNet18();
            Console.WriteLine($"StripesModel: weights in {watch.Elapsed.TotalSeconds:F1} s");
            var pipeline = ml.Transforms.Conversion.MapValueToKey("Label", "Label")
                .Append(ml.MulticlassClassification.Trainers.FrozenResNet(new FrozenResNetTrainer.Options
                {
                    FeatureColumnName = "ImageSource", ImageSize = Side, Epochs = 1, BatchSize = 16,
                    LearningRate = 0.001, Seed = 3,
                    PretrainedWeights = weights, MetricsCallback = e => Console.WriteLine(e), ValidationFraction = 0,
                }))
                .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel", "PredictedLabel"));
            var model = pipeline.Fit(train);
            Console.WriteLine($"StripesModel: trained in {watch.Elapsed.TotalSeconds:F1} s");
            return (ml, model);
        }
    }
}

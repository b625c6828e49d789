// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Freezing.Tests.MLNet;

namespace Microsoft.ML.Freezing.Tests.Reliability
{
    /// <summary>
    /// A tiny ResNet (one Basic block per stage, 2 classes, 32 px) as pretrained weights, and one model trained from
    /// them and saved, shared by the reliability tests so that each stays fast. Files live in a temp folder removed at
    /// exit.
    /// </summary>
    internal static class TinyModel
    {
        public static readonly ResNetDefinition Definition = new ResNetDefinition(ResNetBlockType.Basic,
            new[] { 1, 1, 1, 1 }, 2);

        private static readonly Lazy<string> _folder = new Lazy<string>(() =>
        {
            string folder = Path.Combine(Path.GetTempPath(),
                "frozen-resnet-reliability-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(folder);
            AppDomain.CurrentDomain.ProcessExit += (_, _) =>
            {
                try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
            };
            return folder;
        });

        private static readonly Lazy<PretrainedWeights> _weights = new Lazy<PretrainedWeights>(() =>
        {
            string path = Path.Combine(Folder, "tiny-weights.bin");
            using (var network = new ResNet(Definition, seed: 0))
                network.save(path);
            return PretrainedWeights.FromTorchSharpFile(path, Definition, ImagePreprocessing.ImageNet(32));
        });

        private static readonly Lazy<string> _zip = new Lazy<string>(() =>
        {
            var ml = new MLContext(seed: 1);
            var data = ml.Data.LoadFromEnumerable(GeneratedImages.Stripes(32, seed: 11));
            string path = Path.Combine(Folder, "tiny-model.zip");
            using (var model = Pipeline(ml, Options(epochs: 1)).Fit(data))
                ml.Model.Save(model, data.Schema, path);
            return path;
        });

        /// <summary>The temp folder of this test run's reliability files.</summary>
        public static string Folder => _folder.Value;

        /// <summary>Random tiny weights in TorchSharp's format (ImageNet preprocessing at 32 px).</summary>
        public static PretrainedWeights Weights => _weights.Value;

        /// <summary>A saved pipeline (MapValueToKey on Label, then FrozenResNet on ImageSource), trained for one
        /// epoch.</summary>
        public static string Zip => _zip.Value;

        /// <summary>Trainer options for the tiny network on Model Builder's columns; everything trains unless
        /// changed.</summary>
        public static FrozenResNetTrainer.Options Options(int epochs = 1) => new FrozenResNetTrainer.Options
        {
            FeatureColumnName = "ImageSource", ImageSize = 32, Epochs = epochs, BatchSize = 16, LearningRate = 0.01,
            Seed = 1,
            PretrainedWeights = Weights, Freeze = FreezeMask.None, Unfreezing = UnfreezeSchedule.None,
            ValidationFraction = 0,
        };

        /// <summary>
        /// Runs TorchSharp on one intra-op thread until disposed (then restores the count). On a shared 2-core machine
        /// two spinning threads per tiny forward pass are many times slower than one; results do not depend on it.
        /// </summary>
        public static IDisposable OneThread()
        {
            int previous = TorchSharp.torch.get_num_threads();
            TorchSharp.torch.set_num_threads(1);
            return new Restore(() => TorchSharp.torch.set_num_threads(previous));
        }

        private sealed class Restore : IDisposable
        {
            private readonly Action _restore;
            public Restore(Action restore) => _restore = restore;
            public void Dispose() => _restore();
        }

        /// <summary>A prediction engine that leaves <paramref name="model"/> alone when disposed (ML.NET's default
        /// disposes it).</summary>
        public static PredictionEngine<ModelInput, ScoreOutput> Engine(MLContext ml, ITransformer model)
            => ml.Model.CreatePredictionEngine<ModelInput, ScoreOutput>(model,
                new PredictionEngineOptions { OwnsTransformer = false });

        public static EstimatorChain<FrozenResNetTransformer> Pipeline(MLContext ml,
            FrozenResNetTrainer.Options options)
            => ml.Transforms.Conversion.MapValueToKey("Label")
                .Append(ml.MulticlassClassification.Trainers.FrozenResNet(options));
    }

    /// <summary>The scores of a prediction (the tiny pipeline has no MapKeyToValue, so no string
    /// PredictedLabel).</summary>
    public sealed class ScoreOutput
    {
        public float[] Score { get; set; }
    }
}

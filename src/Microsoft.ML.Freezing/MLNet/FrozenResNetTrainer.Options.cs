// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;

namespace Microsoft.ML.Freezing
{
    public sealed partial class FrozenResNetTrainer
    {
        /// <summary>
        /// Settings of <see cref="FrozenResNetTrainer"/>: the training settings shared with the engine
        /// (<see cref="FineTuneSettings"/>) and the trainer's own. Every member documents its default; a null one is
        /// automatic and resolved by <see cref="TrainingDefaults"/> once the weights are known.
        /// </summary>
        public sealed record Options : FineTuneSettings
        {
            /// <summary>The key-typed label column (from <c>MapValueToKey</c>). Default "Label".</summary>
            public string LabelColumnName { get; set; } = "Label";
            /// <summary>The image column: encoded bytes (<c>byte[]</c>, <c>LoadRawImageBytes</c>) or <c>MLImage</c>
            /// (<c>LoadImages</c>). Default "Features".</summary>
            public string FeatureColumnName { get; set; } = "Features";
            /// <summary>Output column of class probabilities (a float vector of the key count). Default
            /// "Score".</summary>
            public string ScoreColumnName { get; set; } = "Score";
            /// <summary>Output column of the predicted key. Default "PredictedLabel".</summary>
            public string PredictedLabelColumnName { get; set; } = "PredictedLabel";

            private ResNetArchitecture _architecture = ResNetArchitecture.ResNet18;

            /// <summary>
            /// The ResNet preset. Without <see cref="PretrainedWeights"/> only ResNet18 has built-in weights
            /// (ML.NET's); another preset needs weights or <see cref="Freezing.PretrainedWeights.None"/>.
            /// Default ResNet18.
            /// </summary>
            public ResNetArchitecture Architecture
            {
                get => _architecture;
                set
                {
                    _architecture = value;
                    ArchitectureWasSet = true;
                }
            }
            /// <summary>
            /// Start from these weights; they define the network (depths, variant, preprocessing). An explicitly set
            /// <see cref="Architecture"/> that contradicts them is an error.
            /// <see cref="Freezing.PretrainedWeights.None"/> starts from random initialisation. Default null: ML.NET's
            /// pretrained ResNet-18 (<see cref="Freezing.PretrainedWeights.MLNetResNet18"/>;
            /// <see cref="TrainingDefaults.Weights"/>).
            /// </summary>
            public PretrainedWeights PretrainedWeights { get; set; }
            /// <summary>Square input side in pixels. Default 224.</summary>
            public int ImageSize { get; set; } = 224;

            /// <summary>
            /// The head's learning rate. Default null: the weights'
            /// <see cref="Freezing.PretrainedWeights.RecommendedLearningRate"/> (0.001 for pretrained weights and
            /// continued training, 0.003 for random initialisation). A rate that is set always wins.
            /// </summary>
            public double? LearningRate { get; set; }

            /// <summary>
            /// What is frozen at epoch 0. Default null: AllButHead with pretrained weights, None without
            /// (<see cref="TrainingDefaults.Freeze"/>).
            /// </summary>
            public FreezeMask Freeze { get; set; }
            /// <summary>
            /// When frozen parts thaw. Default null: <see cref="UnfreezeSchedule.Auto"/> with pretrained weights (when
            /// Epochs &gt; 1), None without (<see cref="TrainingDefaults.Unfreezing"/>).
            /// </summary>
            public UnfreezeSchedule Unfreezing { get; set; }
            /// <summary>Training-time augmentation. Default None.</summary>
            public ImageAugmentation Augmentation { get; set; } = ImageAugmentation.None;
            /// <summary>
            /// What a row whose image cannot be read does to training (and validation): Fail stops with an error naming
            /// the row (<see cref="InvalidImageException"/>); Skip leaves the row out and counts it (history and log).
            /// Default Fail.
            /// </summary>
            public InvalidImagePolicy InvalidImagePolicy { get; set; } = InvalidImagePolicy.Fail;

            /// <summary>A validation set with the training input's schema (already through the upstream pipeline).
            /// Default null.</summary>
            public IDataView ValidationSet { get; set; }
            /// <summary>
            /// Fraction of the training rows held out for validation when no <see cref="ValidationSet"/> is given,
            /// stratified by class and seeded (<see cref="ValidationSplit"/>; nothing is held out from tiny data). With
            /// validation data the weights of the best epoch are kept (<see cref="RestoreBestEpoch"/>). 0 without a
            /// ValidationSet switches both off.
            /// Default 0.1 (<see cref="TrainingDefaults.ValidationFraction"/>).
            /// </summary>
            public double ValidationFraction { get; set; } = TrainingDefaults.ValidationFraction;
            /// <summary>
            /// With validation data (a <see cref="ValidationSet"/> or a held-out <see cref="ValidationFraction"/>)
            /// and no <see cref="FineTuneSettings.EarlyStopping"/>: keep the weights of the epoch with the lowest
            /// validation loss, without stopping early. False keeps the last epoch's. Default true.
            /// </summary>
            public bool RestoreBestEpoch { get; set; } = true;

            /// <summary>
            /// Keep the optimizer's state (SGD momentum or AdamW moments: about as large as the weights) in the fitted
            /// model and its zip, so that continued training (<c>Fit(data, previousModel)</c>) resumes it exactly. Off,
            /// the zip holds the weights alone and continued training starts a fresh optimizer state (and says so).
            /// Default false.
            /// </summary>
            public bool SaveOptimizerState { get; set; }

            /// <summary>Seed of initialisation, shuffling and augmentation. Default null: the MLContext's seed, else
            /// 0.</summary>
            public int? Seed { get; set; }
            /// <summary>TorchSharp intra-op threads. Default null (TorchSharp's default: all cores).</summary>
            public int? NumberOfThreads { get; set; }

            /// <summary>Called after each epoch. Default null.</summary>
            public Action<FrozenResNetEpoch> MetricsCallback { get; set; }
            /// <summary>Called after each batch (progress bars). Default null.</summary>
            public Action<BatchProgress> BatchCallback { get; set; }

            internal bool ArchitectureWasSet { get; private set; }
        }
    }
}

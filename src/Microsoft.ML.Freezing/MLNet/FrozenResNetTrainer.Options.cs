using System;
using System.Collections.Generic;

namespace Microsoft.ML.Freezing
{
    public sealed partial class FrozenResNetTrainer
    {
        /// <summary>Settings of <see cref="FrozenResNetTrainer"/>. Every member documents its default.</summary>
        public sealed class Options
        {
            /// <summary>The key-typed label column (from <c>MapValueToKey</c>). Default "Label".</summary>
            public string LabelColumnName { get; set; } = "Label";
            /// <summary>The image column: encoded bytes (<c>byte[]</c>, <c>LoadRawImageBytes</c>) or <c>MLImage</c> (<c>LoadImages</c>). Default "Features".</summary>
            public string FeatureColumnName { get; set; } = "Features";
            /// <summary>Output column of class probabilities (a float vector of the key count). Default "Score".</summary>
            public string ScoreColumnName { get; set; } = "Score";
            /// <summary>Output column of the predicted key. Default "PredictedLabel".</summary>
            public string PredictedLabelColumnName { get; set; } = "PredictedLabel";

            private ResNetArchitecture _architecture = ResNetArchitecture.ResNet18;

            /// <summary>The ResNet preset when no <see cref="PretrainedWeights"/> are given. Default ResNet18.</summary>
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
            /// <see cref="Architecture"/> that contradicts them is an error. Default null (random initialisation).
            /// </summary>
            public PretrainedWeights PretrainedWeights { get; set; }
            /// <summary>Square input side in pixels. Default 224.</summary>
            public int ImageSize { get; set; } = 224;

            /// <summary>Passes over the training data. Default 5.</summary>
            public int Epochs { get; set; } = 5;
            /// <summary>Images per step. Default 32.</summary>
            public int BatchSize { get; set; } = 32;
            /// <summary>The head's learning rate. Default 0.01.</summary>
            public double LearningRate { get; set; } = 0.01;
            /// <summary>SGD or AdamW. Default SGD.</summary>
            public OptimizerKind Optimizer { get; set; } = OptimizerKind.Sgd;
            /// <summary>SGD momentum. Default 0.9.</summary>
            public double Momentum { get; set; } = 0.9;
            /// <summary>Nesterov momentum (SGD). Default false.</summary>
            public bool Nesterov { get; set; }
            /// <summary>Weight decay on conv/fc weights (never BatchNorm, biases, frozen parameters). Default 1e-4.</summary>
            public double WeightDecay { get; set; } = 1e-4;

            /// <summary>What is frozen at epoch 0. Default null: AllButHead with pretrained weights, None without.</summary>
            public FreezeMask Freeze { get; set; }
            /// <summary>BatchNorm behaviour in frozen parts. Default Frozen.</summary>
            public BatchNormPolicy BatchNorm { get; set; } = BatchNormPolicy.Frozen;
            /// <summary>When frozen parts thaw. Default null: Gradual(1,1) with pretrained weights (when Epochs &gt; 1), None without.</summary>
            public UnfreezeSchedule Unfreezing { get; set; }
            /// <summary>Stage k (Head = 0 ... Stem = 5) trains at lr / decay^k. Default 1 (off).</summary>
            public double LayerLearningRateDecay { get; set; } = 1;
            /// <summary>Per-stage learning-rate multipliers; they override the decay for the stages named. Default null.</summary>
            public IReadOnlyDictionary<ResNetStage, double> StageLearningRateMultipliers { get; set; }
            /// <summary>Rate shape over the run. Default Constant.</summary>
            public LearningRateSchedule LearningRateSchedule { get; set; } = LearningRateSchedule.Constant;
            /// <summary>Fraction of an epoch over which a thawed stage warms up. Default 0.1.</summary>
            public double ThawWarmupFraction { get; set; } = 0.1;
            /// <summary>Training-time augmentation. Default None.</summary>
            public ImageAugmentation Augmentation { get; set; } = ImageAugmentation.None;
            /// <summary>
            /// What a row whose image cannot be read does to training (and validation): Fail stops with an error naming
            /// the row (<see cref="InvalidImageError"/>); Skip leaves the row out and counts it (history and log). Default Fail.
            /// </summary>
            public InvalidImagePolicy InvalidImagePolicy { get; set; } = InvalidImagePolicy.Fail;
            /// <summary>
            /// Arithmetic of the frozen prefix during training (see <see cref="FineTuneOptions.FrozenPrefixPrecision"/>):
            /// bfloat16 is about twice as fast on CPUs with AVX512_BF16 and rounds what the trainable stages see. Scoring
            /// and the saved model stay float32. Default float32.
            /// </summary>
            public InferencePrecision FrozenPrefixPrecision { get; set; } = InferencePrecision.Float32;

            /// <summary>A validation set with the training input's schema (already through the upstream pipeline). Default null.</summary>
            public IDataView ValidationSet { get; set; }
            /// <summary>Fraction of the training rows held out for validation when no <see cref="ValidationSet"/> is given. Default 0.</summary>
            public double ValidationFraction { get; set; }
            /// <summary>Stop when validation stops improving and keep the best epoch. Default null (off).</summary>
            public EarlyStopping EarlyStopping { get; set; }

            /// <summary>Seed of initialisation, shuffling and augmentation. Default null: the MLContext's seed, else 0.</summary>
            public int? Seed { get; set; }
            /// <summary>TorchSharp intra-op threads. Default null (TorchSharp's default: all cores).</summary>
            public int? NumberOfThreads { get; set; }
            /// <summary>Where to train and score. Default Cpu (Cuda needs a CUDA libtorch; see README).</summary>
            public ComputeDevice Device { get; set; } = ComputeDevice.Cpu;

            /// <summary>Stops training between batches (as does <c>MLContext.CancelExecution()</c>). Default none.</summary>
            public System.Threading.CancellationToken CancellationToken { get; set; }

            /// <summary>Called after each epoch. Default null.</summary>
            public Action<EpochRecord> MetricsCallback { get; set; }
            /// <summary>Called after each batch (progress bars). Default null.</summary>
            public Action<BatchProgress> BatchCallback { get; set; }

            internal bool ArchitectureWasSet { get; private set; }
        }
    }
}

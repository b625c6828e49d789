// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System.Collections.Generic;
using System.Threading;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// The training settings that the engine (<see cref="FineTuneOptions"/>) and the ML.NET trainer
    /// (<see cref="FrozenResNetTrainer.Options"/>) share, each with its one documented default. The options differ only
    /// where they must: the trainer leaves some settings automatic (null), the engine takes concrete values.
    /// </summary>
    /// <remarks>
    /// A record so that the compiler writes the copy: <c>new FineTuneOptions(trainerOptions)</c> runs the base copy
    /// constructor, which copies every member declared here, so a new setting cannot be forgotten by the trainer.
    /// </remarks>
    public abstract record FineTuneSettings
    {
        /// <summary>Passes over the training data. Default 5.</summary>
        public int Epochs { get; set; } = 5;
        /// <summary>Images per optimizer step. Default 32.</summary>
        public int BatchSize { get; set; } = 32;
        /// <summary>SGD or AdamW. Default SGD.</summary>
        public OptimizerKind Optimizer { get; set; } = OptimizerKind.Sgd;
        /// <summary>SGD momentum. Default 0.9.</summary>
        public double Momentum { get; set; } = 0.9;
        /// <summary>Nesterov momentum for SGD. Default false.</summary>
        public bool Nesterov { get; set; }
        /// <summary>
        /// Weight decay on conv and fc weights (never BatchNorm, biases or frozen parameters). Default 1e-4.
        /// </summary>
        public double WeightDecay { get; set; } = 1e-4;
        /// <summary>
        /// How BatchNorm layers whose parameters are frozen behave. Default <see cref="BatchNormPolicy.Frozen"/>.
        /// </summary>
        public BatchNormPolicy BatchNorm { get; set; } = BatchNormPolicy.Frozen;
        /// <summary>Stage k (Head = 0 ... Stem = 5) trains at lr / decay^k. Default 1 (off); ULMFiT uses 2.6.</summary>
        public double LayerLearningRateDecay { get; set; } = 1;
        /// <summary>
        /// Per-stage multipliers of the learning rate; they replace the decay for the stages named. Default null.
        /// </summary>
        public IReadOnlyDictionary<ResNetStage, double> StageLearningRateMultipliers { get; set; }
        /// <summary>
        /// The rate's shape over the run, per group. Default <see cref="Freezing.LearningRateSchedule.Constant"/>.
        /// </summary>
        public LearningRateSchedule LearningRateSchedule { get; set; } = LearningRateSchedule.Constant;
        /// <summary>
        /// Fraction of an epoch over which a stage that just thawed warms up from 0 to its rate. Default 0.1.
        /// </summary>
        public double ThawWarmupFraction { get; set; } = 0.1;
        /// <summary>
        /// Each epoch shows every training image either as it is or mirrored left to right, with probability 0.5 per
        /// image, drawn from the run's seed and the epoch. Unlike a random augmentation this keeps the activation
        /// cache: the first pass stores the frozen prefix's outputs for both versions of every image (twice that pass's
        /// prefix work and cache memory), and later epochs read the drawn one. Default false.
        /// </summary>
        public bool HorizontalFlip { get; set; }
        /// <summary>
        /// Stop when validation stops improving and keep the best epoch's weights. Default null (off).
        /// </summary>
        public EarlyStopping EarlyStopping { get; set; }
        /// <summary>
        /// Arithmetic of the folded frozen prefix (the stages below the lowest trainable one, run under <c>no_grad</c>
        /// with <see cref="BatchNormPolicy.Frozen"/>). <see cref="InferencePrecision.BFloat16"/> runs it about twice as
        /// fast on CPUs with AVX512_BF16 (slower elsewhere) and rounds its outputs to 8 significant bits, which the
        /// trainable stages then see, and the activation cache stores. Training only: evaluation and the saved model
        /// stay float32. Default <see cref="InferencePrecision.Float32"/>.
        /// </summary>
        public InferencePrecision FrozenPrefixPrecision { get; set; } = InferencePrecision.Float32;
        /// <summary>
        /// What runs the frozen prefix in training. <see cref="InferenceEngine.OnnxRuntime"/> (on the CPU, float32):
        /// the prefix is exported at each epoch that runs it and computed by ONNX Runtime, whose kernels ran
        /// ResNet-18's prefix about twice as fast as libtorch's fold on the CPUs tried; the trainable stages and the
        /// activation cache get the same values up to float rounding. <see cref="InferenceEngine.TorchSharp"/>: the
        /// folded snapshot on libtorch, which is also what runs when ONNX Runtime cannot, on CUDA, and in bfloat16.
        /// Default null: ONNX Runtime when the epoch's pass is large enough to repay building its session (about 1 s;
        /// some 128 images at 224 px), else TorchSharp.
        /// </summary>
        public InferenceEngine? FrozenPrefixEngine { get; set; }
        /// <summary>
        /// Where to train (and, for the trainer, score). Default Cpu (Cuda needs a CUDA libtorch; see README).
        /// </summary>
        public ComputeDevice Device { get; set; } = ComputeDevice.Cpu;
        /// <summary>
        /// A folder for checkpoints: after every epoch (before its callbacks run) the run's whole state is written
        /// there atomically (weights, optimizer state, thaw-policy state, best epoch's weights, history), keeping the
        /// two newest generations. A later run with the same options and data resumes after the last completed epoch
        /// (a finished run returns its model); a checkpoint of another run is refused, saying what differs. On the CPU
        /// with the same thread count the resumed run ends with the uninterrupted run's weights. Default null (off).
        /// </summary>
        public string CheckpointFolder { get; set; }
        /// <summary>Stops training between batches. Default none.</summary>
        public CancellationToken CancellationToken { get; set; }
    }
}

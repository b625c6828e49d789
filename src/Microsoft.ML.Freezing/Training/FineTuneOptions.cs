using System;
using System.Collections.Generic;
using System.Threading;

namespace Microsoft.ML.Freezing
{
    /// <summary>Where tensors live. CUDA needs a CUDA build of libtorch (see README); CPU is what is tested.</summary>
    public enum ComputeDevice
    {
        /// <summary>The CPU.</summary>
        Cpu,
        /// <summary>The first CUDA GPU.</summary>
        Cuda,
    }

    /// <summary>The engine-level settings of a fine-tuning run (no ML.NET involved).</summary>
    public sealed class FineTuneOptions
    {
        /// <summary>Number of epochs. Default 5.</summary>
        public int Epochs { get; set; } = 5;
        /// <summary>Images per optimizer step. Default 32.</summary>
        public int BatchSize { get; set; } = 32;
        /// <summary>The head's base learning rate. Default 0.01.</summary>
        public double LearningRate { get; set; } = 0.01;
        /// <summary>SGD or AdamW. Default SGD.</summary>
        public OptimizerKind Optimizer { get; set; } = OptimizerKind.Sgd;
        /// <summary>SGD momentum. Default 0.9.</summary>
        public double Momentum { get; set; } = 0.9;
        /// <summary>Nesterov momentum for SGD. Default false.</summary>
        public bool Nesterov { get; set; }
        /// <summary>Weight decay on conv and fc weights (never on BatchNorm, biases or frozen parameters). Default 1e-4.</summary>
        public double WeightDecay { get; set; } = 1e-4;
        /// <summary>What is frozen at epoch 0. Default <see cref="FreezeMask.None"/>.</summary>
        public FreezeMask Freeze { get; set; } = FreezeMask.None;
        /// <summary>How BatchNorm layers whose parameters are frozen behave. Default <see cref="BatchNormPolicy.Frozen"/>.</summary>
        public BatchNormPolicy BatchNorm { get; set; } = BatchNormPolicy.Frozen;
        /// <summary>
        /// When frozen parameters thaw: an <see cref="UnfreezeSchedule"/>, planned before training, or any
        /// <see cref="ThawPolicy"/>, which may react to validation. Default <see cref="UnfreezeSchedule.None"/>.
        /// </summary>
        public ThawPolicy Unfreezing { get; set; } = UnfreezeSchedule.None;
        /// <summary>Stage k (Head = 0 ... Stem = 5) trains at lr / decay^k. Default 1 (off); ULMFiT uses 2.6.</summary>
        public double LayerLearningRateDecay { get; set; } = 1;
        /// <summary>Per-stage multipliers of the learning rate; they replace the decay for the stages they name. Default none.</summary>
        public IReadOnlyDictionary<ResNetStage, double> StageLearningRateMultipliers { get; set; }
        /// <summary>The rate's shape over the run, per group. Default <see cref="Freezing.LearningRateSchedule.Constant"/>.</summary>
        public LearningRateSchedule LearningRateSchedule { get; set; } = LearningRateSchedule.Constant;
        /// <summary>Fraction of an epoch over which a stage that just thawed warms up from 0 to its rate. Default 0.1.</summary>
        public double ThawWarmupFraction { get; set; } = 0.1;
        /// <summary>Seed of the shuffling generator. Default 0.</summary>
        public int Seed { get; set; }
        /// <summary>Stop when validation stops improving and keep the best epoch's weights. Default null (off).</summary>
        public EarlyStopping EarlyStopping { get; set; }
        /// <summary>
        /// After the last epoch, put back the weights of the epoch with the best validation score (early stopping's
        /// metric when it is on, else validation loss), without stopping early. Needs a validation set. Default false.
        /// </summary>
        public bool RestoreBestEpoch { get; set; }
        /// <summary>
        /// Cache the outputs of the frozen prefix so later epochs start from the freeze boundary (only with
        /// <see cref="BatchNormPolicy.Frozen"/> and images that do not change between epochs). Default true.
        /// </summary>
        public bool UseActivationCache { get; set; } = true;
        /// <summary>Bytes of cached activations kept in memory; beyond it they spill to a memory-mapped file. Default 2 GiB.</summary>
        public long ActivationCacheMemoryLimit { get; set; } = 2L << 30;
        /// <summary>
        /// Arithmetic of the folded frozen prefix (the stages below the lowest trainable one, run under <c>no_grad</c> with
        /// <see cref="BatchNormPolicy.Frozen"/>). <see cref="InferencePrecision.BFloat16"/> runs it about twice as fast on
        /// CPUs with AVX512_BF16 (slower elsewhere) and rounds its outputs to 8 significant bits, which the trainable
        /// stages then see, and the activation cache stores. Training only: evaluation and the saved model stay float32.
        /// Default <see cref="InferencePrecision.Float32"/>.
        /// </summary>
        public InferencePrecision FrozenPrefixPrecision { get; set; } = InferencePrecision.Float32;
        /// <summary>Folder for spilled activations. Default: the system's temp folder.</summary>
        public string ActivationCacheFolder { get; set; }
        /// <summary>Device to train on. Default CPU.</summary>
        public ComputeDevice Device { get; set; } = ComputeDevice.Cpu;
        /// <summary>Called after every epoch.</summary>
        public Action<EpochRecord> EpochCallback { get; set; }
        /// <summary>Called after every training batch.</summary>
        public Action<BatchProgress> BatchCallback { get; set; }
        /// <summary>Receives one-line messages (thaws, schedule notes).</summary>
        public Action<string> Log { get; set; }
        /// <summary>Stops training between batches.</summary>
        public CancellationToken CancellationToken { get; set; }

        /// <summary>The learning-rate range test's exponential ramp, in place of <see cref="LearningRateSchedule"/>.</summary>
        internal Func<long, long, double> LearningRateFactorOverride { get; set; }

        /// <summary>The factor on every group's base rate at a step (the schedule's, or the range test's ramp).</summary>
        internal double ScheduleFactor(long step, long totalSteps)
            => LearningRateFactorOverride?.Invoke(step, totalSteps) ?? LearningRateSchedule.Factor(step, totalSteps);

        /// <summary>A shallow copy (the range test runs with a few members changed).</summary>
        internal FineTuneOptions Clone() => (FineTuneOptions)MemberwiseClone();
    }
}

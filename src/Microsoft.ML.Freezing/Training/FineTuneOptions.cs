// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;

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

    /// <summary>
    /// The engine-level settings of a fine-tuning run (no ML.NET involved): the shared <see cref="FineTuneSettings"/>
    /// plus the values that the trainer resolves for it (learning rate, freeze plan, seed) and the engine's own knobs.
    /// </summary>
    public sealed record FineTuneOptions : FineTuneSettings
    {
        /// <summary>Options with every default.</summary>
        public FineTuneOptions()
        {
        }

        /// <summary>
        /// Options that start from <paramref name="settings"/> (every shared member copied) and the engine's defaults.
        /// </summary>
        public FineTuneOptions(FineTuneSettings settings)
            : base(settings ?? throw new ArgumentNullException(nameof(settings)))
        {
        }

        /// <summary>
        /// The head's base learning rate. Default 0.01. The trainer passes the weights'
        /// <see cref="PretrainedWeights.RecommendedLearningRate"/> unless one is set.
        /// </summary>
        public double LearningRate { get; set; } = 0.01;
        /// <summary>What is frozen at epoch 0. Default <see cref="FreezeMask.None"/>.</summary>
        public FreezeMask Freeze { get; set; } = FreezeMask.None;
        /// <summary>
        /// When frozen parameters thaw: an <see cref="UnfreezeSchedule"/>, planned before training, or any
        /// <see cref="ThawPolicy"/>, which may react to validation. Default <see cref="UnfreezeSchedule.None"/>.
        /// </summary>
        public ThawPolicy Unfreezing { get; set; } = UnfreezeSchedule.None;
        /// <summary>Seed of the shuffling generator. Default 0.</summary>
        public int Seed { get; set; }
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
        /// <summary>Bytes of cached activations kept in memory; beyond it they spill to a memory-mapped file. Default 2
        /// GiB.</summary>
        public long ActivationCacheMemoryLimit { get; set; } = 2L << 30;
        /// <summary>Folder for spilled activations. Default: the system's temp folder.</summary>
        public string ActivationCacheFolder { get; set; }
        /// <summary>Called after every epoch.</summary>
        public Action<EpochRecord> EpochCallback { get; set; }
        /// <summary>Called after every training batch.</summary>
        public Action<BatchProgress> BatchCallback { get; set; }
        /// <summary>Receives one-line messages (thaws, schedule notes).</summary>
        public Action<string> Log { get; set; }

        /// <summary>
        /// What the caller adds to a checkpoint's fingerprint (the trainer: class names, preprocessing, augmentation),
        /// as named values; a checkpoint whose values differ is refused, naming them.
        /// </summary>
        internal IReadOnlyList<KeyValuePair<string, string>> CheckpointIdentity { get; set; }

        /// <summary>
        /// Throws when the caller cancelled (the trainer: MLContext.CancelExecution()) where no batch callback runs: in
        /// the frozen prefix's pass that fills the activation cache.
        /// </summary>
        internal Action CheckAlive { get; set; }

        /// <summary>The learning-rate range test's exponential ramp, in place of the schedule.</summary>
        internal Func<long, long, double> LearningRateFactorOverride { get; set; }

        /// <summary>The factor on every group's base rate at a step (the schedule's, or the range test's
        /// ramp).</summary>
        internal double ScheduleFactor(long step, long totalSteps)
            => LearningRateFactorOverride?.Invoke(step, totalSteps) ?? LearningRateSchedule.Factor(step, totalSteps);
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// The fine-tuning loop: before each epoch the thaw policy gives the freeze mask (<see cref="ThawPolicy"/>); the
    /// loop applies it and the BatchNorm policy, keeps one optimizer parameter group per stage (and decay class), sets
    /// per-group rates every step, warms up stages that thaw, and runs the frozen prefix under <c>no_grad</c> (with
    /// <see cref="BatchNormPolicy.Frozen"/>, as a folded snapshot taken at the start of each epoch:
    /// <see cref="ResNet.Fold(ResNetStage, ResNetStage, InferencePrecision)"/>), or reads its outputs from the
    /// activation cache.
    /// </summary>
    public sealed partial class FineTuner : IDisposable
    {
        private readonly FineTuneOptions _options;
        private readonly ThawPolicy _policy;
        private readonly IReadOnlyList<string> _parameterNames;
        private readonly Device _device;
        private readonly List<EpochRecord> _history = new List<EpochRecord>();
        private readonly HashSet<BatchNorm> _evalBatchNorms = new HashSet<BatchNorm>();
        private readonly Dictionary<ResNetStage, long> _stageForwards = ResNetStages.All.ToDictionary(s => s, _ => 0L);
        private readonly Dictionary<ResNetStage, long> _validationStageForwards =
            ResNetStages.All.ToDictionary(s => s, _ => 0L);

        /// <summary>Prepares training of <paramref name="model"/> (moved to the options' device).</summary>
        public FineTuner(ResNet model, FineTuneOptions options)
        {
            Model = model ?? throw new ArgumentNullException(nameof(model));
            _options = options ?? throw new ArgumentNullException(nameof(options));
            CheckOptions(options);
            _parameterNames = model.named_parameters().Select(p => p.name).ToList();
            var initial = options.Freeze ?? FreezeMask.None;
            initial.Validate(_parameterNames);

            _device = options.Device == ComputeDevice.Cuda ? CUDA : CPU;
            if (NativeHeap.KeepFreedBlocks())
                options.Log?.Invoke("Freed native memory is kept for reuse from now on (glibc: blocks up to " +
                    $"{NativeHeap.KeptBlockBytes >> 20} MB, {NativeHeap.KeptTopBytes >> 20} MB at the heap's top).");
            if (options.Device == ComputeDevice.Cuda && !cuda.is_available())
                throw new InvalidOperationException(LibTorchSettings.NoCudaDevice);
            Model.to(_device);

            var rates = StageLearningRates.Compute(
                options.LearningRate, options.LayerLearningRateDecay, options.StageLearningRateMultipliers);
            (Optimizer, Groups) = ParameterGroups.CreateOptimizer(
                model, options.Optimizer, rates, options.Momentum, options.Nesterov, options.WeightDecay);
            _policy = options.Unfreezing ?? UnfreezeSchedule.None;
            Plan = _policy.PlannedMasks(initial, _parameterNames, options.Epochs, options.Log);
            if (Plan != null && Plan.Count != options.Epochs)
                throw new InvalidOperationException(
                    $"Thaw policy {_policy} planned {Plan.Count} masks for a run of {options.Epochs} epochs.");
            ApplyMask(Plan?[0] ?? initial);
        }

        /// <summary>The network being trained.</summary>
        public ResNet Model { get; }
        /// <summary>The optimizer (one group per entry of <see cref="Groups"/>, same order).</summary>
        public optim.Optimizer Optimizer { get; }
        /// <summary>The parameter groups.</summary>
        public IReadOnlyList<ParameterGroup> Groups { get; }
        /// <summary>
        /// The freeze mask in force at each epoch when the thaw policy plans ahead (an <see cref="UnfreezeSchedule"/>);
        /// null for a policy that reacts to validation (<see cref="ThawPolicy.PlannedMasks"/>).
        /// </summary>
        public IReadOnlyList<FreezeMask> Plan { get; }
        /// <summary>The mask in force now.</summary>
        public FreezeMask CurrentMask { get; private set; }
        /// <summary>One record per finished epoch.</summary>
        public IReadOnlyList<EpochRecord> History => _history;
        /// <summary>
        /// The epoch whose weights the model holds after <see cref="Fit"/> when they were put back (early stopping,
        /// <see cref="FineTuneOptions.RestoreBestEpoch"/> or the thaw policy), or the head-only baseline's epoch when
        /// the run kept the baseline (<see cref="EpochRecord.HeadOnlyBaselineKept"/>); null when it holds the last
        /// epoch's.
        /// </summary>
        public int? RestoredEpoch { get; private set; }
        /// <summary>Images that went forward through each stage during training (validation not counted).</summary>
        public IReadOnlyDictionary<ResNetStage, long> StageForwardCounts => _stageForwards;
        /// <summary>
        /// Images that went forward through each stage while <see cref="Fit"/> validated (frozen stages run once per
        /// freeze boundary when the validation activations are cached); <see cref="Evaluate"/> is not counted.
        /// </summary>
        public IReadOnlyDictionary<ResNetStage, long> ValidationStageForwardCounts => _validationStageForwards;
        /// <summary>
        /// Largest number of bytes the activation caches (training and validation) held in memory during
        /// <see cref="Fit"/>.
        /// </summary>
        public long PeakActivationCacheBytes { get; private set; }

        /// <summary>
        /// Trains for the configured epochs (fewer when stopped); returns the history. With a
        /// <see cref="FineTuneSettings.CheckpointFolder"/> that holds a checkpoint of this run, first puts the run
        /// back as it was after that checkpoint's epoch and trains only the epochs after it
        /// (<see cref="ResumedAfterEpoch"/>).
        /// </summary>
        public IReadOnlyList<EpochRecord> Fit(IImageBatchSource train, IImageBatchSource validation = null)
        {
            CheckData(train, validation);
            using var run = StartRun(train, validation);
            using var best = BestEpoch.For(_options, _policy, keepWeights: run.Validation != null
                && (_options.EarlyStopping != null || _options.RestoreBestEpoch || Plan == null));
            var checkpoints = OpenCheckpoints(run, best);
            int first = ResumedAfterEpoch + 1 ?? 0;
            int heldEpoch = first - 1; // the epoch whose weights the model holds
            // A resumed run that early stopping had ended ends again (the decision is the history's).
            bool stopped = first > 0 && StopsEarly(_history[^1], best);
            for (int epoch = first; !stopped && epoch < _options.Epochs; epoch++)
            {
                var decision = DecideThaw(epoch);
                heldEpoch = RestoreAsDecided(decision, best, run, epoch, heldEpoch);
                if (decision.Stop)
                {
                    StopBefore(epoch, decision.Reason ?? $"thaw policy {_policy} asked to stop");
                    _options.Log?.Invoke($"Stopping before epoch {epoch}, as thaw policy {_policy} asked.");
                    break;
                }
                TrainHeadOnlyBaseline(epoch, decision, run);
                var record = TrainEpoch(epoch, decision, run);
                heldEpoch = epoch;
                if (run.Validation != null)
                {
                    run.Baseline?.Annotate(record, _history);
                    best.Offer(record, Model);
                }
                if (checkpoints != null)
                    SaveCheckpoint(checkpoints, epoch, best, run);
                Publish(record);
                stopped = StopsEarly(record, best);
            }
            EndRun(best, run, heldEpoch);
            return _history;
        }

        /// <summary>Mean cross-entropy loss and accuracy of the model in eval mode.</summary>
        public EvaluationResult Evaluate(IImageBatchSource data)
        {
            if (data == null) throw new ArgumentNullException(nameof(data));
            return InEvalMode(() =>
            {
                // The whole network runs folded (a snapshot of the current weights).
                using var folded = Model.Fold(ResNetStage.Stem, ResNetStage.Head, InferencePrecision.Float32,
                    _options.Log);
                var totals = new ScoreTotals();
                foreach (var batch in data.GetBatches(_options.BatchSize, null))
                {
                    using (batch)
                    using (var scope = NewDisposeScope())
                        totals.Add(folded.Forward(batch.Images.to(_device)), batch.Labels.to(_device));
                }
                return totals.Result;
            });
        }

        /// <summary>
        /// Puts a mask in force: frozen parameters stop requiring gradients (and lose any stale gradient), and the
        /// BatchNorm policy applies to every BatchNorm layer whose affine parameters the mask freezes.
        /// </summary>
        public void ApplyMask(FreezeMask mask)
        {
            CurrentMask = mask ?? throw new ArgumentNullException(nameof(mask));
            foreach (var (name, parameter) in Model.named_parameters())
                parameter.requires_grad = !mask.IsFrozen(name);

            _evalBatchNorms.Clear();
            foreach (var (name, bn, _) in Model.BatchNorms())
            {
                if (!mask.IsFrozen(name + ".weight") && !mask.IsFrozen(name + ".bias"))
                    continue;
                if (_options.BatchNorm != BatchNormPolicy.Frozen)
                {
                    bn.weight.requires_grad = true;
                    bn.bias.requires_grad = true;
                }
                if (_options.BatchNorm != BatchNormPolicy.Train)
                    _evalBatchNorms.Add(bn);
            }

            foreach (var parameter in Model.parameters().Where(p => !p.requires_grad))
                parameter.grad = null; // a stale gradient would let the optimizer move a frozen parameter

            if (!Model.parameters().Any(p => p.requires_grad))
                throw new InvalidOperationException(
                    $"Freeze mask '{mask}' freezes every parameter: nothing would train.");
            Model.train();
            ApplyBatchNormModes();
        }

        /// <summary>Writes the optimizer state (TorchSharp's format) for continued training.</summary>
        public void SaveOptimizerState(BinaryWriter writer) => ((OptimizerHelper)Optimizer).save_state_dict(writer);

        /// <summary>Restores optimizer state written by <see cref="SaveOptimizerState"/> for the same groups.</summary>
        public void LoadOptimizerState(BinaryReader reader) => ((OptimizerHelper)Optimizer).load_state_dict(reader);

        /// <inheritdoc/>
        public void Dispose() => Optimizer.Dispose();

        private static void CheckOptions(FineTuneOptions options)
        {
            if (options.Epochs < 1)
                throw new ArgumentOutOfRangeException(nameof(options),
                    $"Epochs must be at least 1; got {options.Epochs}.");
            if (options.BatchSize < 1)
                throw new ArgumentOutOfRangeException(nameof(options),
                    $"BatchSize must be at least 1; got {options.BatchSize}.");
            if (options.ThawWarmupFraction < 0 || options.ThawWarmupFraction > 1)
                throw new ArgumentOutOfRangeException(nameof(options), "ThawWarmupFraction must lie in [0, 1].");
        }

        private void CheckData(IImageBatchSource train, IImageBatchSource validation)
        {
            if (train == null) throw new ArgumentNullException(nameof(train));
            if (train.Count == 0) throw new ArgumentException("The training set is empty.", nameof(train));
            bool validated = validation != null && validation.Count > 0;
            if (_options.EarlyStopping != null && !validated)
                throw new ArgumentException("Early stopping needs a validation set.", nameof(validation));
            if (_options.RestoreBestEpoch && !validated)
                throw new ArgumentException("RestoreBestEpoch needs a validation set.", nameof(validation));
        }

        private HashSet<string> TrainableNames()
            => new HashSet<string>(Model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name));

        // The lowest stage with a parameter that trains now (BatchNorm policy included).
        private ResNetStage LowestTrainableStageNow()
            => Model.StagedParameters().Where(p => p.Parameter.requires_grad).Min(p => p.Stage);

        private void ApplyBatchNormModes()
        {
            foreach (var bn in _evalBatchNorms)
                bn.eval();
        }
    }
}

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// The fine-tuning loop: applies the freeze mask and BatchNorm policy of each epoch, keeps one optimizer parameter
    /// group per stage (and decay class), sets per-group rates every step, warms up stages that thaw, and runs the
    /// frozen prefix under <c>no_grad</c> (with <see cref="BatchNormPolicy.Frozen"/>, as a folded snapshot taken at the start
    /// of each epoch: <see cref="ResNet.Fold"/>).
    /// </summary>
    public sealed class FineTuner : IDisposable
    {
        private readonly FineTuneOptions _options;
        private readonly IReadOnlyList<string> _parameterNames;
        private readonly Device _device;
        private readonly List<EpochRecord> _history = new List<EpochRecord>();
        private readonly HashSet<BatchNorm2d> _evalBatchNorms = new HashSet<BatchNorm2d>();
        private (int Epoch, int Batch) _position;
        private readonly Dictionary<ResNetStage, long> _stageForwards = ResNetStages.All.ToDictionary(s => s, _ => 0L);
        // The frozen prefix of the current epoch, BatchNorm folded into its convolutions (null: run the modules).
        private FoldedResNet _prefix;

        /// <summary>Prepares training of <paramref name="model"/> (moved to the options' device).</summary>
        public FineTuner(ResNet model, FineTuneOptions options)
        {
            Model = model ?? throw new ArgumentNullException(nameof(model));
            _options = options ?? throw new ArgumentNullException(nameof(options));
            if (options.Epochs < 1) throw new ArgumentOutOfRangeException(nameof(options), $"Epochs must be at least 1; got {options.Epochs}.");
            if (options.BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(options), $"BatchSize must be at least 1; got {options.BatchSize}.");
            if (options.ThawWarmupFraction < 0 || options.ThawWarmupFraction > 1)
                throw new ArgumentOutOfRangeException(nameof(options), "ThawWarmupFraction must lie in [0, 1].");
            _parameterNames = model.named_parameters().Select(p => p.name).ToList();
            (options.Freeze ?? FreezeMask.None).Validate(_parameterNames);

            _device = options.Device == ComputeDevice.Cuda ? CUDA : CPU;
            if (options.Device == ComputeDevice.Cuda && !cuda.is_available())
                throw new InvalidOperationException("Device is Cuda, but no CUDA device is available to TorchSharp (a CUDA build of libtorch is needed; see README).");
            Model.to(_device);

            var rates = StageLearningRates.Compute(options.LearningRate, options.LayerLearningRateDecay, options.StageLearningRateMultipliers);
            (Optimizer, Groups) = ParameterGroups.CreateOptimizer(model, options.Optimizer, rates, options.Momentum, options.Nesterov, options.WeightDecay);
            Plan = (options.Unfreezing ?? UnfreezeSchedule.None).Plan(options.Freeze ?? FreezeMask.None, _parameterNames, options.Epochs, options.Log);
            ApplyMask(Plan[0]);
        }

        /// <summary>The network being trained.</summary>
        public ResNet Model { get; }
        /// <summary>The optimizer (one group per entry of <see cref="Groups"/>, same order).</summary>
        public optim.Optimizer Optimizer { get; }
        /// <summary>The parameter groups.</summary>
        public IReadOnlyList<ParameterGroup> Groups { get; }
        /// <summary>The freeze mask in force at each epoch.</summary>
        public IReadOnlyList<FreezeMask> Plan { get; }
        /// <summary>The mask in force now.</summary>
        public FreezeMask CurrentMask { get; private set; }
        /// <summary>One record per finished epoch.</summary>
        public IReadOnlyList<EpochRecord> History => _history;
        /// <summary>Images that went forward through each stage during training (validation not counted).</summary>
        public IReadOnlyDictionary<ResNetStage, long> StageForwardCounts => _stageForwards;
        /// <summary>Largest number of bytes the activation cache held in memory during <see cref="Fit"/>.</summary>
        public long PeakActivationCacheBytes { get; private set; }

        /// <summary>Trains for the configured epochs; returns the history.</summary>
        public IReadOnlyList<EpochRecord> Fit(IImageBatchSource train, IImageBatchSource validation = null)
        {
            if (train == null) throw new ArgumentNullException(nameof(train));
            if (train.Count == 0) throw new ArgumentException("The training set is empty.", nameof(train));
            var shuffle = new Random(_options.Seed);
            int batchesPerEpoch = (train.Count + _options.BatchSize - 1) / _options.BatchSize;
            long totalSteps = (long)batchesPerEpoch * _options.Epochs;
            long step = 0;
            var early = _options.EarlyStopping;
            if (early != null && (validation == null || validation.Count == 0))
                throw new ArgumentException("Early stopping needs a validation set.", nameof(validation));
            using var best = new BestEpoch();
            using var cache = CreateCache(train);
            using var dropPrefix = new DropPrefixOnExit(this);

            for (int epoch = 0; epoch < _options.Epochs; epoch++)
            {
                var before = TrainableNames();
                ApplyMask(Plan[epoch]);
                // Parameters that just thawed start from clean optimizer state and warm up.
                var thawed = epoch == 0 ? new HashSet<string>() : new HashSet<string>(TrainableNames().Except(before));
                if (thawed.Count > 0)
                    ParameterGroups.ResetState(Optimizer, Groups, thawed);
                var warming = new HashSet<ResNetStage>(thawed.Select(ResNetStages.OfParameter));
                int warmupSteps = (int)Math.Ceiling(batchesPerEpoch * _options.ThawWarmupFraction);

                double startFactor = _options.LearningRateSchedule.Factor(step, totalSteps);
                var stageRates = Groups.GroupBy(g => g.Stage).ToDictionary(g => g.Key, g => g.First().BaseLearningRate * startFactor);
                var frozenStages = CurrentMask.FrozenStages(_parameterNames);
                long trainable = Model.parameters().Where(p => p.requires_grad).Sum(p => p.numel());

                // The cache: what this and later epochs will start from, what this epoch reads or fills.
                var first = FirstTrainableStage();
                ResNetStage? cachedBoundary = null;
                var fill = new HashSet<ResNetStage>();
                if (cache != null)
                {
                    var needed = CacheOutputsNeeded(epoch);
                    cache.Retain(needed);
                    if (first > ResNetStage.Stem && needed.Contains(first - 1) && cache.IsComplete(first - 1))
                        cachedBoundary = first - 1;
                    else
                        fill.UnionWith(needed.Where(s => s < first && !cache.IsComplete(s)));
                }

                // Frozen parameters cannot change during the epoch, so one folded snapshot serves all of it.
                if (!cachedBoundary.HasValue)
                {
                    _prefix = FoldPrefix(first);
                    if (_prefix?.Precision == InferencePrecision.BFloat16)
                        _options.Log?.Invoke($"Epoch {epoch}: the frozen prefix ({ResNetStage.Stem.Name()}..{(first - 1).Name()}) runs in bfloat16.");
                }

                var clock = Stopwatch.StartNew();
                double lossSum = 0;
                long correct = 0, seen = 0;
                int batchIndex = 0;
                foreach (var indices in ImageBatchSources.BatchIndices(train.Count, _options.BatchSize, shuffle))
                {
                    _options.CancellationToken.ThrowIfCancellationRequested();
                    _position = (epoch, batchIndex);
                    double schedule = _options.LearningRateSchedule.Factor(step, totalSteps);
                    int i = batchIndex;
                    ParameterGroups.SetLearningRates(Optimizer, Groups, g =>
                        schedule * (warming.Contains(g.Stage) && i < warmupSteps ? (i + 1.0) / (warmupSteps + 1.0) : 1.0));
                    var (loss, hits) = cachedBoundary.HasValue
                        ? TrainFromCache(cache, cachedBoundary.Value, indices)
                        : TrainStep(train, indices, cache, fill);
                    lossSum += loss * indices.Length;
                    correct += hits;
                    seen += indices.Length;
                    step++;
                    batchIndex++;
                    if (cache != null) PeakActivationCacheBytes = Math.Max(PeakActivationCacheBytes, cache.MemoryBytes);
                    _options.BatchCallback?.Invoke(new BatchProgress(epoch, batchIndex, batchesPerEpoch, loss, seen / clock.Elapsed.TotalSeconds));
                }
                double imagesPerSecond = seen / clock.Elapsed.TotalSeconds;
                _prefix?.Dispose();
                _prefix = null;

                EvaluationResult? val = validation != null && validation.Count > 0 ? Evaluate(validation) : null;
                var record = new EpochRecord
                {
                    Epoch = epoch,
                    FrozenStages = frozenStages,
                    TrainableParameters = trainable,
                    StageLearningRates = stageRates,
                    TrainLoss = lossSum / seen,
                    TrainAccuracy = (double)correct / seen,
                    ValidationLoss = val?.Loss,
                    ValidationAccuracy = val?.Accuracy,
                    ImagesPerSecond = imagesPerSecond,
                    CachedBoundary = cachedBoundary,
                    Duration = clock.Elapsed,
                };
                _history.Add(record);
                _options.Log?.Invoke(record.ToString());
                _options.EpochCallback?.Invoke(record);

                if (early != null)
                {
                    if (best.Epoch < 0 || early.Score(record) > best.Score + early.MinDelta)
                        best.Remember(epoch, early.Score(record), Model);
                    else if (epoch - best.Epoch >= early.Patience)
                    {
                        _options.Log?.Invoke($"Early stopping after epoch {epoch}: no {early.Metric} improvement since epoch {best.Epoch}.");
                        break;
                    }
                }
            }
            if (early != null && best.Epoch >= 0 && best.Epoch != _history.Count - 1)
            {
                _options.Log?.Invoke($"Restoring the weights of epoch {best.Epoch}, the best by {early.Metric}.");
                best.Restore(Model);
            }
            return _history;
        }

        /// <summary>Mean cross-entropy loss and accuracy of the model in eval mode.</summary>
        public EvaluationResult Evaluate(IImageBatchSource data)
        {
            bool wasTraining = Model.training;
            Model.eval();
            try
            {
                using var noGrad = no_grad();
                // Eval mode throughout: the whole network runs folded (a snapshot of the current weights).
                using var folded = Model.Fold();
                double lossSum = 0;
                long correct = 0, seen = 0;
                foreach (var batch in data.GetBatches(_options.BatchSize, null))
                {
                    using (batch)
                    using (var scope = NewDisposeScope())
                    {
                        var labels = batch.Labels.to(_device);
                        var logits = folded.Forward(batch.Images.to(_device));
                        lossSum += nn.functional.cross_entropy(logits, labels).item<float>() * batch.Count;
                        correct += logits.argmax(1).eq(labels).sum().item<long>();
                        seen += batch.Count;
                    }
                }
                return new EvaluationResult(seen == 0 ? double.NaN : lossSum / seen, seen == 0 ? double.NaN : (double)correct / seen, seen);
            }
            finally
            {
                Model.train(wasTraining);
                if (wasTraining) ApplyBatchNormModes();
            }
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
                throw new InvalidOperationException($"Freeze mask '{mask}' freezes every parameter: nothing would train.");
            Model.train();
            ApplyBatchNormModes();
        }

        /// <summary>Writes the optimizer state (TorchSharp's format) for continued training.</summary>
        public void SaveOptimizerState(BinaryWriter writer) => ((OptimizerHelper)Optimizer).save_state_dict(writer);

        /// <summary>Restores optimizer state written by <see cref="SaveOptimizerState"/> for the same groups.</summary>
        public void LoadOptimizerState(BinaryReader reader) => ((OptimizerHelper)Optimizer).load_state_dict(reader);

        /// <inheritdoc/>
        public void Dispose()
        {
            _prefix?.Dispose();
            _prefix = null;
            Optimizer.Dispose();
        }

        /// <summary>
        /// The frozen prefix below <paramref name="first"/> folded for inference, when every BatchNorm in it is in eval mode
        /// (the Frozen policy); else null, and the prefix runs through the modules.
        /// </summary>
        private FoldedResNet FoldPrefix(ResNetStage first)
        {
            if (first == ResNetStage.Stem || Model.BatchNorms().Any(b => b.Stage < first && b.Module.training))
                return null;
            return Model.Fold(ResNetStage.Stem, first - 1, _options.FrozenPrefixPrecision);
        }

        /// <summary>Drops the folded prefix when <see cref="Fit"/> leaves, normally or not.</summary>
        private sealed class DropPrefixOnExit : IDisposable
        {
            private readonly FineTuner _tuner;
            public DropPrefixOnExit(FineTuner tuner) => _tuner = tuner;
            public void Dispose()
            {
                _tuner._prefix?.Dispose();
                _tuner._prefix = null;
            }
        }

        private (double Loss, long Correct) TrainStep(IImageBatchSource train, int[] indices, ActivationCache cache, ISet<ResNetStage> fill)
        {
            using var batch = train.GetBatch(indices);
            using var scope = NewDisposeScope();
            var labels = batch.Labels.to(_device);
            var first = FirstTrainableStage();
            var hidden = batch.Images.to(_device);
            if (first > ResNetStage.Stem)
            {
                // Nothing below the lowest trainable parameter needs a gradient; its outputs may feed the cache.
                using var noGrad = no_grad();
                for (var stage = ResNetStage.Stem; stage < first; stage++)
                {
                    hidden = _prefix != null && stage <= _prefix.To ? _prefix.ForwardStage(stage, hidden) : Model.ForwardStage(stage, hidden);
                    _stageForwards[stage] += indices.Length;
                    if (fill.Contains(stage) && !cache.Put(stage, indices, hidden, batch.Labels))
                        fill.Remove(stage);
                }
            }
            return Optimize(hidden, labels, first, indices.Length);
        }

        private (double Loss, long Correct) TrainFromCache(ActivationCache cache, ResNetStage boundary, int[] indices)
        {
            using var scope = NewDisposeScope();
            var hidden = cache.Get(boundary, indices).to(_device);
            var labels = cache.Labels(indices).to(_device);
            return Optimize(hidden, labels, boundary + 1, indices.Length);
        }

        // Forward from `first` to the head, backward, one optimizer step (inside the caller's dispose scope).
        private (double Loss, long Correct) Optimize(Tensor hidden, Tensor labels, ResNetStage first, int count)
        {
            for (var stage = first; stage <= ResNetStage.Head; stage++)
            {
                hidden = Model.ForwardStage(stage, hidden);
                _stageForwards[stage] += count;
            }
            var loss = nn.functional.cross_entropy(hidden, labels);
            float value = loss.item<float>();
            if (!float.IsFinite(value))
            {
                // Stop before the step: a non-finite loss would poison the weights, and no NaN model may come out.
                throw new ArithmeticException($"Training diverged: the loss is {value} at epoch {_position.Epoch}, batch {_position.Batch}. " +
                    "Lower the learning rate (or check the data); no model was produced.");
            }
            Optimizer.zero_grad();
            loss.backward();
            Optimizer.step();
            return (value, hidden.argmax(1).eq(labels).sum().item<long>());
        }

        /// <summary>The cache, or null (with the reason logged) when the run cannot use one.</summary>
        private ActivationCache CreateCache(IImageBatchSource train)
        {
            string off = !_options.UseActivationCache ? "disabled by the options"
                : _options.BatchNorm != BatchNormPolicy.Frozen ? $"BatchNorm policy {_options.BatchNorm} lets gradients or statistics reach frozen stages"
                : !train.IsDeterministic ? "augmentation changes the images every epoch"
                : !Plan.Any(m => FirstTrainableStage(m) > ResNetStage.Stem) ? "no epoch has a frozen prefix"
                : null;
            if (off != null)
            {
                _options.Log?.Invoke($"Activation cache off: {off}.");
                return null;
            }
            return new ActivationCache(train.Count, _options.ActivationCacheMemoryLimit, _options.ActivationCacheFolder ?? System.IO.Path.GetTempPath(), _options.Log);
        }

        /// <summary>
        /// Stage outputs worth keeping at <paramref name="epoch"/>: the input of a later (or this) epoch's first
        /// trainable stage, provided nothing at or below that output trains in between (else it would go stale).
        /// </summary>
        private HashSet<ResNetStage> CacheOutputsNeeded(int epoch)
        {
            var needed = new HashSet<ResNetStage>();
            var lowestSoFar = ResNetStage.Head;
            for (int e = epoch; e < Plan.Count; e++)
            {
                var first = FirstTrainableStage(Plan[e]);
                if (first < lowestSoFar) lowestSoFar = first;
                // Valid only if every epoch from `epoch` to `e` keeps stages up to first-1 frozen.
                if (first > ResNetStage.Stem && first - 1 < lowestSoFar)
                    needed.Add(first - 1);
            }
            return needed;
        }

        // With the Frozen BatchNorm policy, the lowest stage that has a parameter the mask leaves trainable.
        private ResNetStage FirstTrainableStage(FreezeMask mask)
            => _parameterNames.Where(n => !mask.IsFrozen(n)).Select(ResNetStages.OfParameter).DefaultIfEmpty(ResNetStage.Head).Min();

        /// <summary>A copy of the weights of the best epoch so far.</summary>
        private sealed class BestEpoch : IDisposable
        {
            private Dictionary<string, Tensor> _weights;

            public int Epoch { get; private set; } = -1;
            public double Score { get; private set; }

            public void Remember(int epoch, double score, ResNet model)
            {
                Dispose();
                Epoch = epoch;
                Score = score;
                _weights = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone().DetachFromDisposeScope());
            }

            public void Restore(ResNet model)
            {
                using var noGrad = no_grad();
                foreach (var (name, tensor) in model.state_dict())
                    tensor.copy_(_weights[name]);
            }

            public void Dispose()
            {
                if (_weights != null)
                    foreach (var t in _weights.Values) t.Dispose();
                _weights = null;
            }
        }

        private ResNetStage FirstTrainableStage()
            => Model.StagedParameters().Where(p => p.Parameter.requires_grad).Min(p => p.Stage);

        private HashSet<string> TrainableNames()
            => new HashSet<string>(Model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name));

        private void ApplyBatchNormModes()
        {
            foreach (var bn in _evalBatchNorms)
                bn.eval();
        }
    }
}

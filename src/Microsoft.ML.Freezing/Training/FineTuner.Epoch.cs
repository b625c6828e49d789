// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    // One epoch: plan it (mask, thaw, warm-up, cache boundary), run its batches, validate and record it.
    public sealed partial class FineTuner
    {
        // What stays the same for every epoch of one Fit; owns the activation caches. Given is the training source
        // Fit was given; Train is what the epochs read: Given, or its mirrored pairs (FineTuneSettings.HorizontalFlip).
        private sealed record FitRun(IImageBatchSource Given, IImageBatchSource Train, IImageBatchSource Validation,
            ActivationCache Cache, ActivationCache ValidationCache, EpochShuffle Shuffle, int BatchesPerEpoch,
            long TotalSteps, int Seed) : IDisposable
        {
            public static FitRun Create(IImageBatchSource given, IImageBatchSource train, IImageBatchSource validation,
                ActivationCache cache, ActivationCache validationCache, FineTuneOptions options)
            {
                int batchesPerEpoch = ImageBatchSources.TrainingBatchCount(given.Count, options.BatchSize);
                var shuffle = new EpochShuffle(options.Seed, given.Count);
                return new FitRun(given, train, validation, cache, validationCache, shuffle, batchesPerEpoch,
                    (long)batchesPerEpoch * options.Epochs, options.Seed);
            }

            /// <summary>The batches of <paramref name="epoch"/>: every image once, shuffled from the run's seed and
            /// the epoch (and, with mirrored pairs, one of each pair).</summary>
            public IEnumerable<int[]> EpochBatches(int epoch, int batchSize)
                => Train is FlipPairSource pairs
                    ? pairs.EpochBatches(batchSize, Shuffle.For(epoch), Seed, epoch)
                    : ImageBatchSources.TrainingBatchIndices(Train.Count, batchSize, Shuffle.For(epoch));

            public long CacheMemoryBytes => (Cache?.MemoryBytes ?? 0) + (ValidationCache?.MemoryBytes ?? 0);

            /// <summary>The head alone trained to the end of the budget at the first thaw, when the policy asks for
            /// it (<see cref="ThawPolicy.UsesHeadOnlyBaseline"/>).</summary>
            public HeadOnlyBaseline Baseline { get; set; }

            public void Dispose()
            {
                Baseline?.Dispose();
                Cache?.Dispose();
                ValidationCache?.Dispose();
            }
        }

        /// <summary>What one epoch does, settled before its first batch.</summary>
        /// <param name="Epoch">The epoch, from 0.</param>
        /// <param name="FirstStep">The run's step at the epoch's first batch (epochs have equal batches).</param>
        /// <param name="FirstTrainable">The lowest stage that trains; the stages below run under no_grad.</param>
        /// <param name="CachedBoundary">The stage output read from the cache; null: the epoch runs the images.</param>
        /// <param name="Fill">Stage outputs stored on the way (one the cache has no room for drops out).</param>
        /// <param name="Warming">Stages that just thawed: they warm up over the first WarmupSteps batches.</param>
        /// <param name="WarmupSteps">The length of the thaw warm-up, in batches.</param>
        /// <param name="ThawReason">Why the thaw policy chose the epoch's mask, when it said.</param>
        /// <param name="FilledFirst">Whether the epoch filled the cache it reads (in index order, before training).
        /// </param>
        private sealed record EpochPlan(int Epoch, long FirstStep, ResNetStage FirstTrainable,
            ResNetStage? CachedBoundary, ISet<ResNetStage> Fill, ISet<ResNetStage> Warming, int WarmupSteps,
            string ThawReason, bool FilledFirst = false);

        /// <summary>
        /// The run's one shuffling generator, seeded with the run's seed, one permutation per epoch. A run resumed
        /// after epoch k replays the k permutations before (each draws the same count of numbers whatever it
        /// shuffles), so its epochs see the uninterrupted run's orders and no generator state is saved.
        /// </summary>
        private sealed class EpochShuffle
        {
            private readonly int _seed;
            private readonly int _count;
            private Random _random;
            private int _next; // the epoch whose permutation the generator draws next

            public EpochShuffle(int seed, int count)
            {
                _seed = seed;
                _count = count;
            }

            /// <summary>The generator, ready to draw <paramref name="epoch"/>'s permutation (once).</summary>
            public Random For(int epoch)
            {
                if (_random == null || epoch < _next)
                {
                    _random = new Random(_seed);
                    _next = 0;
                }
                var scratch = epoch > _next ? new int[_count] : null;
                for (; _next < epoch; _next++)
                    _random.Shuffle(scratch);
                _next++;
                return _random;
            }
        }

        /// <summary>Sums over an epoch's training batches.</summary>
        private readonly record struct EpochTotals(double LossSum, long Correct, long Seen, TimeSpan Elapsed);

        private EpochRecord TrainEpoch(int epoch, ThawDecision decision, FitRun run)
        {
            var clock = Stopwatch.StartNew();
            var plan = PlanEpoch(epoch, decision, run);
            var filling = clock.Elapsed; // the frozen prefix's pass that filled the cache belongs to the epoch
            var totals = RunBatches(plan, run);
            totals = totals with { Elapsed = totals.Elapsed + filling };
            return ValidateAndRecord(plan, totals, run);
        }

        /// <summary>Puts the mask in force; thawed parameters get fresh optimizer state and a warm-up.</summary>
        private EpochPlan PlanEpoch(int epoch, ThawDecision decision, FitRun run)
        {
            var thawed = ApplyMaskAndListThawed(decision.Mask, epoch);
            if (thawed.Count > 0)
                ParameterGroups.ResetState(Optimizer, Groups, thawed);
            var first = LowestTrainableStageNow();
            var (boundary, fill) = PlanCache(epoch, first, run.Cache);
            var plan = new EpochPlan(epoch, (long)epoch * run.BatchesPerEpoch, first, boundary, fill,
                new HashSet<ResNetStage>(thawed.Select(ResNetStages.OfParameter)),
                (int)Math.Ceiling(run.BatchesPerEpoch * _options.ThawWarmupFraction), decision.Reason);
            return FillCacheInIndexOrder(plan, run);
        }

        /// <summary>
        /// Fills the cache outputs the epoch needs in index order before it trains, then lets it read them: every
        /// stored activation is computed in the same batch, whichever epoch fills it, so a run resumed from a
        /// checkpoint (its cache refilled) reads the values the uninterrupted run read.
        /// </summary>
        private EpochPlan FillCacheInIndexOrder(EpochPlan plan, FitRun run)
        {
            var boundary = plan.FirstTrainable - 1;
            if (plan.CachedBoundary.HasValue || !plan.Fill.Contains(boundary))
                return plan;
            using (var prefix = CreatePrefix(plan, run.Train.Count))
            {
                foreach (var indices in ImageBatchSources.BatchIndices(run.Train.Count, _options.BatchSize, null))
                {
                    _options.CancellationToken.ThrowIfCancellationRequested();
                    _options.CheckAlive?.Invoke();
                    using var images = run.Train.GetBatch(indices);
                    using var scope = NewDisposeScope();
                    ForwardFrozenPrefix(images.Images.to(_device), images.Labels, indices, plan, prefix, run.Cache);
                    if (!plan.Fill.Contains(boundary))
                        break; // no room for it: the epoch runs from the images
                }
            }
            PeakActivationCacheBytes = Math.Max(PeakActivationCacheBytes, run.CacheMemoryBytes);
            return run.Cache.IsComplete(boundary)
                ? plan with { CachedBoundary = boundary, Fill = new HashSet<ResNetStage>(), FilledFirst = true }
                : plan;
        }

        // The parameters the mask thaws (none at epoch 0: nothing has trained, so nothing warms up).
        private HashSet<string> ApplyMaskAndListThawed(FreezeMask mask, int epoch)
        {
            var before = TrainableNames();
            ApplyMask(mask);
            return epoch == 0 ? new HashSet<string>() : new HashSet<string>(TrainableNames().Except(before));
        }

        private EpochTotals RunBatches(EpochPlan plan, FitRun run)
        {
            // Frozen parameters cannot change during the epoch, so one folded snapshot serves all of it.
            using var prefix = plan.CachedBoundary.HasValue ? null : CreatePrefix(plan, run.Train.Count);
            var clock = Stopwatch.StartNew();
            var totals = new EpochTotals();
            int batch = 0;
            // From the run's seed and the epoch alone, so that a resumed run draws what this one drew.
            (run.Train as IEpochSeededSource)?.StartEpoch(plan.Epoch);
            foreach (var indices in run.EpochBatches(plan.Epoch, _options.BatchSize))
            {
                _options.CancellationToken.ThrowIfCancellationRequested();
                SetBatchLearningRates(plan, batch, run.TotalSteps);
                var (loss, hits) = plan.CachedBoundary is ResNetStage boundary
                    ? TrainFromCache(run.Cache, boundary, indices, (plan.Epoch, batch))
                    : TrainStep(run, plan, prefix, indices, batch);
                totals = totals with
                {
                    LossSum = totals.LossSum + loss * indices.Length,
                    Correct = totals.Correct + hits,
                    Seen = totals.Seen + indices.Length,
                };
                batch++;
                PeakActivationCacheBytes = Math.Max(PeakActivationCacheBytes, run.CacheMemoryBytes);
                if (!_trainingBaseline)
                    _options.BatchCallback?.Invoke(new BatchProgress(plan.Epoch, batch, run.BatchesPerEpoch, loss,
                        totals.Seen / clock.Elapsed.TotalSeconds));
            }
            return totals with { Elapsed = clock.Elapsed };
        }

        // The schedule's factor, times a linear warm-up for the stages that just thawed.
        private void SetBatchLearningRates(EpochPlan plan, int batch, long totalSteps)
        {
            double schedule = _options.ScheduleFactor(plan.FirstStep + batch, totalSteps);
            double warmup = batch < plan.WarmupSteps ? (batch + 1.0) / (plan.WarmupSteps + 1.0) : 1.0;
            ParameterGroups.SetLearningRates(Optimizer, Groups,
                g => schedule * (plan.Warming.Contains(g.Stage) ? warmup : 1.0));
        }

        private (double Loss, long Correct) TrainStep(FitRun run, EpochPlan plan, FrozenPrefix prefix, int[] indices,
            int batch)
        {
            using var images = run.Train.GetBatch(indices);
            using var scope = NewDisposeScope();
            var labels = images.Labels.to(_device);
            var hidden = images.Images.to(_device);
            if (plan.FirstTrainable > ResNetStage.Stem)
                hidden = ForwardFrozenPrefix(hidden, images.Labels, indices, plan, prefix, run.Cache);
            return Optimize(hidden, labels, plan.FirstTrainable, indices.Length, (plan.Epoch, batch));
        }

        // Nothing below the lowest trainable stage needs a gradient; its outputs may feed the cache.
        private Tensor ForwardFrozenPrefix(Tensor hidden, Tensor labels, int[] indices, EpochPlan plan,
            FrozenPrefix prefix, ActivationCache cache)
        {
            var output = prefix.Forward(hidden, (stage, activations) =>
            {
                if (plan.Fill.Contains(stage) && !cache.Put(stage, indices, activations, labels))
                    plan.Fill.Remove(stage);
            });
            for (var stage = ResNetStage.Stem; stage <= prefix.Last; stage++)
                _stageForwards[stage] += indices.Length;
            return output;
        }

        private (double Loss, long Correct) TrainFromCache(ActivationCache cache, ResNetStage boundary, int[] indices,
            (int Epoch, int Batch) position)
        {
            using var scope = NewDisposeScope();
            var hidden = cache.Get(boundary, indices).to(_device);
            var labels = cache.Labels(indices).to(_device);
            return Optimize(hidden, labels, boundary + 1, indices.Length, position);
        }

        // Forward from `first` to the head, backward, one optimizer step (inside the caller's dispose scope).
        private (double Loss, long Correct) Optimize(Tensor hidden, Tensor labels, ResNetStage first, int count,
            (int Epoch, int Batch) position)
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
                throw new ArithmeticException($"Training diverged: the loss is {value} at epoch {position.Epoch}, " +
                    $"batch {position.Batch}. Lower the learning rate (or check the data); no model was produced.");
            }
            Optimizer.zero_grad();
            loss.backward();
            Optimizer.step();
            return (value, hidden.argmax(1).eq(labels).sum().item<long>());
        }

        private EpochRecord ValidateAndRecord(EpochPlan plan, EpochTotals totals, FitRun run)
        {
            var clock = Stopwatch.StartNew();
            var (validation, validationBoundary) = run.Validation != null ? Validate(plan, run) : (null, null);
            double startFactor = _options.ScheduleFactor(plan.FirstStep, run.TotalSteps);
            var record = new EpochRecord
            {
                Epoch = plan.Epoch,
                FrozenStages = CurrentMask.FrozenStages(_parameterNames),
                TrainableParameters = Model.parameters().Where(p => p.requires_grad).Sum(p => p.numel()),
                StageLearningRates = Groups.GroupBy(g => g.Stage)
                    .ToDictionary(g => g.Key, g => g.First().BaseLearningRate * startFactor),
                TrainLoss = totals.LossSum / totals.Seen,
                TrainAccuracy = (double)totals.Correct / totals.Seen,
                ValidationLoss = validation?.Loss,
                ValidationLossStandardError = validation?.LossStandardError,
                ValidationLosses = validation?.Losses,
                ValidationAccuracy = validation?.Accuracy,
                ImagesPerSecond = totals.Seen / totals.Elapsed.TotalSeconds,
                CachedBoundary = plan.FilledFirst ? null : plan.CachedBoundary,
                ValidationCachedBoundary = validationBoundary,
                ThawReason = plan.ThawReason,
                Duration = totals.Elapsed + clock.Elapsed,
            };
            _history.Add(record);
            return record;
        }

        // After the epoch's checkpoint: the log line and the callback (which may stop the process).
        private void Publish(EpochRecord record)
        {
            _options.Log?.Invoke(record.ToString());
            _options.EpochCallback?.Invoke(record);
        }
    }
}

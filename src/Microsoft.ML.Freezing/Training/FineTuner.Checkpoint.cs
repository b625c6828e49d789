// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;

namespace Microsoft.ML.Freezing
{
    // Checkpoints (FineTuneSettings.CheckpointFolder): the run's state written after every epoch, and a Fit that finds
    // one resumes after its epoch. What is not saved is derived the same way by both runs: the epoch's shuffle (the
    // run's generator replayed, EpochShuffle) and augmentation seed (EpochSeeds), the plan (options), the activation
    // caches (refilled in index order).
    public sealed partial class FineTuner
    {
        /// <summary>
        /// The epoch after which the last <see cref="Fit"/> resumed from a checkpoint in
        /// <see cref="FineTuneSettings.CheckpointFolder"/> (its records up to there have
        /// <see cref="EpochRecord.FromCheckpoint"/> set); null when it started from the first epoch.
        /// </summary>
        public int? ResumedAfterEpoch { get; private set; }

        /// <summary>Where a run's checkpoints go, and the fingerprint each carries.</summary>
        private sealed record Checkpoints(CheckpointStore Store, IReadOnlyList<KeyValuePair<string, string>> Identity);

        /// <summary>
        /// With a checkpoint folder: resumes from its newest usable generation when there is one (refusing one of
        /// another run). Null when checkpoints are off.
        /// </summary>
        private Checkpoints OpenCheckpoints(FitRun run, BestEpoch best)
        {
            ResumedAfterEpoch = null;
            if (string.IsNullOrEmpty(_options.CheckpointFolder))
                return null;
            var identity = CheckpointIdentity.Of(_options, Model, run.Given, run.Validation);
            var store = new CheckpointStore(_options.CheckpointFolder, _options.Log);
            store.RemoveLeftovers();
            var found = store.LoadNewest();
            if (found == null)
            {
                _options.Log?.Invoke($"Checkpoints: none in {store.Folder} yet; one is written after every epoch.");
                return new Checkpoints(store, identity);
            }
            var (path, sections) = found.Value;
            var checkpoint = Resumable(path, sections, identity);
            Resume(checkpoint, best, run);
            string more = checkpoint.Epochs != _options.Epochs
                ? $" (it was written by a run of {checkpoint.Epochs} epochs; this one has {_options.Epochs})" : "";
            _options.Log?.Invoke(checkpoint.LastEpoch + 1 == _options.Epochs
                ? $"Checkpoint {path} holds the finished run of {_options.Epochs} epochs: returning its model " +
                  "without training."
                : $"Resuming from checkpoint {path} after epoch {checkpoint.LastEpoch}{more}: epochs " +
                  $"{checkpoint.LastEpoch + 1}..{_options.Epochs - 1} remain.");
            return new Checkpoints(store, identity);
        }

        // The checkpoint read from its sections, when this run can resume it: the same run (identity), well formed,
        // and within this run's epochs.
        private TrainingCheckpoint Resumable(string path, IReadOnlyDictionary<string, byte[]> sections,
            IReadOnlyList<KeyValuePair<string, string>> identity)
        {
            string differences = CheckpointIdentity.Differences(TrainingCheckpoint.ReadIdentity(sections), identity);
            if (differences != null)
                throw new InvalidOperationException($"Checkpoint {path} was written by another run and cannot be " +
                    $"resumed: {differences}. Use another CheckpointFolder, or empty this one to start afresh.");
            TrainingCheckpoint checkpoint;
            try
            {
                checkpoint = TrainingCheckpoint.FromSections(sections);
            }
            catch (InvalidDataException ex)
            {
                throw new InvalidDataException($"Checkpoint {path} is malformed: {ex.Message}.", ex);
            }
            if (checkpoint.LastEpoch >= _options.Epochs)
                throw new InvalidOperationException($"Checkpoint {path} follows epoch {checkpoint.LastEpoch}, but " +
                    $"this run has {_options.Epochs} epochs (0..{_options.Epochs - 1}); set Epochs to at least " +
                    $"{checkpoint.LastEpoch + 1} to resume it.");
            return checkpoint;
        }

        /// <summary>Puts the run back in the state it was in right after the checkpoint's epoch.</summary>
        private void Resume(TrainingCheckpoint checkpoint, BestEpoch best, FitRun run)
        {
            using (var reader = new BinaryReader(new MemoryStream(checkpoint.Weights, writable: false)))
                TensorDictionaryFormat.ReadInto(reader, Model.state_dict());
            using (var reader = new BinaryReader(new MemoryStream(checkpoint.OptimizerState, writable: false)))
                LoadOptimizerState(reader);
            ApplyMask(MaskOf(checkpoint.MaskText, checkpoint.FrozenParameters));
            if (checkpoint.HeadOnlyBaseline != null)
            {
                using var reader = new BinaryReader(new MemoryStream(checkpoint.HeadOnlyBaseline, writable: false));
                run.Baseline = HeadOnlyBaseline.Read(reader, Model, MaskOf);
            }
            _history.Clear();
            _history.AddRange(checkpoint.History);
            if (checkpoint.BestEpoch >= 0)
            {
                Dictionary<string, TorchSharp.torch.Tensor> differing = null;
                if (checkpoint.BestWeights != null)
                {
                    using var reader = new BinaryReader(new MemoryStream(checkpoint.BestWeights, writable: false));
                    differing = TensorDictionaryFormat.Read(reader);
                }
                bool kept = checkpoint.BestIsLastEpoch || checkpoint.BestWeights != null;
                best.Resume(_history.Single(h => h.Epoch == checkpoint.BestEpoch), kept ? Model : null, differing);
            }
            for (int s = 0; s < ResNetStages.All.Length; s++)
            {
                _stageForwards[ResNetStages.All[s]] = checkpoint.StageForwards[s];
                _validationStageForwards[ResNetStages.All[s]] = checkpoint.ValidationStageForwards[s];
            }
            ResumedAfterEpoch = checkpoint.LastEpoch;
        }

        // The saved mask as the user wrote it when its text reads back to the same parameters, else by those names.
        private FreezeMask MaskOf(string text, IReadOnlyList<string> frozenParameters)
        {
            var frozen = new HashSet<string>(frozenParameters, StringComparer.Ordinal);
            FreezeMask mask = null;
            try
            {
                mask = FreezeMask.Parse(text);
            }
            catch (FormatException)
            {
            }
            return mask != null && _parameterNames.All(n => mask.IsFrozen(n) == frozen.Contains(n)) ? mask
                : FreezeMask.Where(frozen.Contains, text);
        }

        /// <summary>Writes the generation after <paramref name="epoch"/> (before the epoch's callbacks run).</summary>
        private void SaveCheckpoint(Checkpoints checkpoints, int epoch, BestEpoch best, FitRun run)
        {
            var clock = Stopwatch.StartNew();
            bool bestIsLast = best.HasWeights && best.Epoch == epoch;
            var checkpoint = new TrainingCheckpoint
            {
                Identity = checkpoints.Identity, LastEpoch = epoch, Epochs = _options.Epochs,
                MaskText = CurrentMask.ToString(),
                FrozenParameters = _parameterNames.Where(CurrentMask.IsFrozen).ToList(),
                BestEpoch = best.Epoch, BestScore = best.Score, History = _history,
                StageForwards = ResNetStages.All.Select(s => _stageForwards[s]).ToArray(),
                ValidationStageForwards = ResNetStages.All.Select(s => _validationStageForwards[s]).ToArray(),
                Weights = CheckpointFile.Section(w => TensorDictionaryFormat.Write(w,
                    Model.state_dict().Select(kv => (kv.Key, kv.Value)))),
                OptimizerState = CheckpointFile.Section(SaveOptimizerState),
                // The best epoch's weights are stored as far as they differ from the model's (frozen stages do not).
                BestWeights = best.HasWeights && !bestIsLast
                    ? CheckpointFile.Section(w => best.WriteDifferences(w, Model)) : null,
                BestIsLastEpoch = bestIsLast,
                HeadOnlyBaseline = run.Baseline == null ? null
                    : CheckpointFile.Section(w => run.Baseline.Write(w, Model, _parameterNames)),
            };
            var (path, bytes) = checkpoints.Store.Write(epoch, checkpoint.ToSections());
            _options.Log?.Invoke($"Checkpoint after epoch {epoch}: {path} ({bytes / 1e6:F1} MB, written in " +
                $"{clock.Elapsed.TotalSeconds:F2} s).");
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// A run's state after an epoch: what a new process needs to go on as if it had never stopped. Everything else is
    /// derived: each epoch's shuffle (the run's generator replayed) and augmentation seed from the run seed and the
    /// epoch, the thaw plan from the options, <see cref="UnfreezeSchedule.Auto"/>'s decisions from the history and
    /// the mask, and the activation caches are refilled in index order.
    /// </summary>
    /// <remarks>
    /// Sections of the file (<see cref="CheckpointFile"/> holds them, each with its SHA-256):
    /// <code>
    /// "identity"      int32 n; n x (string key, string value): the run's fingerprint (CheckpointIdentity)
    /// "progress"      int32 last completed epoch; int32 Epochs of the run that wrote it; string mask text; int32 n,
    ///                 n strings: the parameters the mask in force freezes; int32 best epoch (-1: none); double best
    ///                 score; byte best weights (0 none, 1 the same as "weights", 2 "weights" with the tensors of
    ///                 "best-weights" in place); 6 int64 training and 6 int64 validation forwards per stage
    ///                 (stem..head)
    /// "history"       EpochRecordFormat
    /// "weights"       TensorDictionaryFormat: the model's state dict (parameters and BatchNorm buffers)
    /// "optimizer"     TorchSharp's optimizer save_state_dict (momentum buffers, Adam moments and steps)
    /// "best-weights"  TensorDictionaryFormat, when the best epoch is not the last one: its tensors that differ from
    ///                 "weights" (those of stages that trained since)
    /// "head-only-baseline"  HeadOnlyBaseline's format, when the run trained one (ThawPolicy.UsesHeadOnlyBaseline)
    /// </code>
    /// </remarks>
    internal sealed class TrainingCheckpoint
    {
        public const string IdentitySection = "identity";
        private const string ProgressSection = "progress";
        private const string HistorySection = "history";
        private const string WeightsSection = "weights";
        private const string OptimizerSection = "optimizer";
        private const string BestWeightsSection = "best-weights";
        private const string HeadOnlyBaselineSection = "head-only-baseline";

        private const byte NoBestWeights = 0, BestIsLast = 1, OwnBestWeights = 2;

        /// <summary>The fingerprint of the run that wrote it.</summary>
        public IReadOnlyList<KeyValuePair<string, string>> Identity { get; init; }
        /// <summary>The last completed epoch; the run goes on with the next.</summary>
        public int LastEpoch { get; init; }
        /// <summary>The Epochs of the run that wrote it.</summary>
        public int Epochs { get; init; }
        /// <summary>The mask in force in the last epoch, as text (for <see cref="FineTuner.CurrentMask"/>).</summary>
        public string MaskText { get; init; }
        /// <summary>The parameters that mask freezes.</summary>
        public IReadOnlyList<string> FrozenParameters { get; init; }
        public int BestEpoch { get; init; } = -1;
        public double BestScore { get; init; }
        public List<EpochRecord> History { get; init; }
        public long[] StageForwards { get; init; }
        public long[] ValidationStageForwards { get; init; }
        /// <summary>Serialised sections (<see cref="TensorDictionaryFormat"/>, TorchSharp's optimizer state).</summary>
        public byte[] Weights { get; init; }
        public byte[] OptimizerState { get; init; }
        /// <summary>
        /// The best epoch's tensors that differ from <see cref="Weights"/>; null when none are kept or they are
        /// <see cref="Weights"/> (<see cref="BestIsLastEpoch"/>).
        /// </summary>
        public byte[] BestWeights { get; init; }
        public bool BestIsLastEpoch { get; init; }
        /// <summary>The head-only baseline (<see cref="Freezing.HeadOnlyBaseline"/>'s format); null when none was
        /// trained.</summary>
        public byte[] HeadOnlyBaseline { get; init; }

        public List<(string Name, byte[] Bytes)> ToSections()
        {
            var sections = new List<(string, byte[])>
            {
                (IdentitySection, CheckpointFile.Section(w => WriteIdentity(w, Identity))),
                (ProgressSection, CheckpointFile.Section(WriteProgress)),
                (HistorySection, CheckpointFile.Section(w => EpochRecordFormat.Write(w, History))),
                (WeightsSection, Weights),
                (OptimizerSection, OptimizerState),
            };
            if (BestWeights != null)
                sections.Add((BestWeightsSection, BestWeights));
            if (HeadOnlyBaseline != null)
                sections.Add((HeadOnlyBaselineSection, HeadOnlyBaseline));
            return sections;
        }

        /// <exception cref="InvalidDataException">A section is missing or malformed.</exception>
        public static TrainingCheckpoint FromSections(IReadOnlyDictionary<string, byte[]> sections)
        {
            var identity = Parse(sections, IdentitySection, ReadIdentity);
            var history = Parse(sections, HistorySection, EpochRecordFormat.Read);
            return Parse(sections, ProgressSection, r => ReadProgress(r, identity, history, sections));
        }

        // Where the run stood (epochs, mask, best epoch, stage-forward counters), with the sections it points to.
        private static TrainingCheckpoint ReadProgress(BinaryReader r,
            IReadOnlyList<KeyValuePair<string, string>> identity, List<EpochRecord> history,
            IReadOnlyDictionary<string, byte[]> sections)
        {
            int last = r.ReadInt32(), epochs = r.ReadInt32();
            string mask = r.ReadString();
            int frozenCount = r.ReadInt32();
            if (frozenCount < 0 || frozenCount > 1_000_000)
                throw new InvalidDataException($"{frozenCount} frozen parameters");
            var frozen = Enumerable.Range(0, frozenCount).Select(_ => r.ReadString()).ToList();
            int bestEpoch = r.ReadInt32();
            double bestScore = r.ReadDouble();
            byte best = r.ReadByte();
            var forwards = Enumerable.Range(0, 6).Select(_ => r.ReadInt64()).ToArray();
            var validationForwards = Enumerable.Range(0, 6).Select(_ => r.ReadInt64()).ToArray();
            if (last < 0 || history.Count != last + 1 || best > OwnBestWeights)
                throw new InvalidDataException(
                    $"section '{ProgressSection}' says epoch {last}, the history has {history.Count} epochs");
            return new TrainingCheckpoint
            {
                Identity = identity, LastEpoch = last, Epochs = epochs, MaskText = mask,
                FrozenParameters = frozen, BestEpoch = bestEpoch, BestScore = bestScore, History = history,
                StageForwards = forwards, ValidationStageForwards = validationForwards,
                Weights = Section(sections, WeightsSection), OptimizerState = Section(sections, OptimizerSection),
                BestWeights = best == OwnBestWeights ? Section(sections, BestWeightsSection) : null,
                BestIsLastEpoch = best == BestIsLast,
                HeadOnlyBaseline = sections.TryGetValue(HeadOnlyBaselineSection, out var baseline) ? baseline : null,
            };
        }

        private static byte[] Section(IReadOnlyDictionary<string, byte[]> sections, string name)
            => sections.TryGetValue(name, out var bytes) ? bytes
                : throw new InvalidDataException($"section '{name}' is missing");

        private static T Parse<T>(IReadOnlyDictionary<string, byte[]> sections, string name,
            Func<BinaryReader, T> parse)
        {
            using var reader = new BinaryReader(new MemoryStream(Section(sections, name), writable: false));
            try
            {
                return parse(reader);
            }
            catch (EndOfStreamException)
            {
                throw new InvalidDataException($"section '{name}' ends early");
            }
        }

        /// <summary>Only the fingerprint (to refuse a mismatch before anything else is parsed).</summary>
        public static IReadOnlyList<KeyValuePair<string, string>> ReadIdentity(
            IReadOnlyDictionary<string, byte[]> sections)
        {
            if (!sections.TryGetValue(IdentitySection, out var bytes))
                throw new InvalidDataException($"section '{IdentitySection}' is missing");
            using var reader = new BinaryReader(new MemoryStream(bytes, writable: false));
            return ReadIdentity(reader);
        }

        private void WriteProgress(BinaryWriter w)
        {
            w.Write(LastEpoch);
            w.Write(Epochs);
            w.Write(MaskText);
            w.Write(FrozenParameters.Count);
            foreach (var name in FrozenParameters)
                w.Write(name);
            w.Write(BestEpoch);
            w.Write(BestScore);
            w.Write(BestWeights != null ? OwnBestWeights : BestIsLastEpoch ? BestIsLast : NoBestWeights);
            foreach (long count in StageForwards.Concat(ValidationStageForwards))
                w.Write(count);
        }

        private static void WriteIdentity(BinaryWriter w, IReadOnlyList<KeyValuePair<string, string>> identity)
        {
            w.Write(identity.Count);
            foreach (var (key, value) in identity)
            {
                w.Write(key);
                w.Write(value);
            }
        }

        private static List<KeyValuePair<string, string>> ReadIdentity(BinaryReader r)
        {
            int count = r.ReadInt32();
            if (count < 0 || count > 1000) throw new InvalidDataException($"{count} identity entries");
            return Enumerable.Range(0, count)
                .Select(_ => new KeyValuePair<string, string>(r.ReadString(), r.ReadString())).ToList();
        }
    }
}

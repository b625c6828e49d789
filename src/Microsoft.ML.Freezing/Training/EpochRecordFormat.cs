// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// The history section of a checkpoint: every field of every <see cref="EpochRecord"/>, so that a resumed run's
    /// history, and the thaw policy's decisions drawn from it (<see cref="UnfreezeSchedule.Auto"/>'s), are the
    /// uninterrupted run's.
    /// Binary format: int32 count; per record: int32 epoch; int32 n, n int32 frozen stages; int64 trainable parameters;
    /// one double per stage (learning rate, NaN when absent); doubles train loss, train accuracy, validation loss,
    /// validation accuracy (NaN when absent), images per second; int32 cached boundary, int32 validation cached
    /// boundary, int32 restored epoch (-1 when absent); bool + string thaw reason; bool + string stop reason; int64
    /// duration ticks; double validation loss standard error (NaN when absent); int32 n (-1 when absent), n float32
    /// per-image validation losses; bool + record: the head-only baseline (<see cref="EpochRecord.HeadOnlyBaseline"/>,
    /// in this same format, itself without one); bool <see cref="EpochRecord.HeadOnlyBaselineKept"/>.
    /// </summary>
    internal static class EpochRecordFormat
    {
        private const int MaxEpochs = 1_000_000;

        public static void Write(BinaryWriter w, IReadOnlyList<EpochRecord> history)
        {
            w.Write(history.Count);
            foreach (var record in history)
                WriteRecord(w, record);
        }

        private static void WriteRecord(BinaryWriter w, EpochRecord record)
        {
            WriteMetrics(w, record);
            w.Write(record.CachedBoundary.HasValue ? (int)record.CachedBoundary.Value : -1);
            w.Write(record.ValidationCachedBoundary.HasValue ? (int)record.ValidationCachedBoundary.Value : -1);
            w.Write(record.RestoredEpoch ?? -1);
            WriteOptional(w, record.ThawReason);
            WriteOptional(w, record.StopReason);
            w.Write(record.Duration.Ticks);
            w.Write(record.ValidationLossStandardError ?? double.NaN);
            w.Write(record.ValidationLosses?.Count ?? -1);
            foreach (float loss in record.ValidationLosses ?? Array.Empty<float>())
                w.Write(loss);
            w.Write(record.HeadOnlyBaseline != null);
            if (record.HeadOnlyBaseline != null)
                WriteRecord(w, record.HeadOnlyBaseline);
            w.Write(record.HeadOnlyBaselineKept);
        }

        /// <summary>The records, each marked <see cref="EpochRecord.FromCheckpoint"/>.</summary>
        public static List<EpochRecord> Read(BinaryReader r)
        {
            int count = r.ReadInt32();
            if (count < 0 || count > MaxEpochs) throw new InvalidDataException($"{count} epochs");
            var history = new List<EpochRecord>(count);
            for (int i = 0; i < count; i++)
                history.Add(ReadRecord(r, nested: false));
            return history;
        }

        private static EpochRecord ReadRecord(BinaryReader r, bool nested)
        {
            var record = ReadRecord(r, tail =>
            {
                int cached = tail.ReadInt32(), validationCached = tail.ReadInt32(), restored = tail.ReadInt32();
                string thawReason = ReadOptional(tail), stopReason = ReadOptional(tail);
                var duration = TimeSpan.FromTicks(tail.ReadInt64());
                double standardError = tail.ReadDouble();
                int losses = tail.ReadInt32();
                if (losses < -1 || losses > 100_000_000)
                    throw new InvalidDataException($"{losses} validation losses");
                var perImage = losses < 0 ? null
                    : Enumerable.Range(0, losses).Select(_ => tail.ReadSingle()).ToArray();
                return new Tail(duration)
                {
                    ValidationLosses = perImage,
                    ValidationLossStandardError = double.IsNaN(standardError) ? null : standardError,
                    CachedBoundary = cached < 0 ? null : Stage(cached),
                    ValidationCachedBoundary = validationCached < 0 ? null : Stage(validationCached),
                    ThawReason = thawReason, RestoredEpoch = restored < 0 ? null : restored,
                    StopReason = stopReason, FromCheckpoint = true,
                };
            });
            if (r.ReadBoolean())
            {
                if (nested) throw new InvalidDataException("a head-only baseline has a baseline of its own");
                record.HeadOnlyBaseline = ReadRecord(r, nested: true);
            }
            record.HeadOnlyBaselineKept = r.ReadBoolean();
            return record;
        }

        /// <summary>The fields every stored record starts with, shared by the checkpoint and the model's History
        /// stream: int32 epoch; int32 n, n int32 frozen stages; int64 trainable parameters; one double per stage
        /// (learning rate, NaN when absent); doubles train loss, train accuracy, validation loss, validation accuracy
        /// (NaN when absent), images per second.</summary>
        public static void WriteMetrics(BinaryWriter w, EpochRecord record)
        {
            w.Write(record.Epoch);
            w.Write(record.FrozenStages.Count);
            foreach (var stage in record.FrozenStages)
                w.Write((int)stage);
            w.Write(record.TrainableParameters);
            foreach (var stage in ResNetStages.All)
                w.Write(record.StageLearningRates.TryGetValue(stage, out var rate) ? rate : double.NaN);
            w.Write(record.TrainLoss);
            w.Write(record.TrainAccuracy);
            w.Write(record.ValidationLoss ?? double.NaN);
            w.Write(record.ValidationAccuracy ?? double.NaN);
            w.Write(record.ImagesPerSecond);
        }

        /// <summary>What a format stores after <see cref="WriteMetrics"/>.</summary>
        public readonly record struct Tail(TimeSpan Duration)
        {
            public ResNetStage? CachedBoundary { get; init; }
            public ResNetStage? ValidationCachedBoundary { get; init; }
            public string ThawReason { get; init; }
            public int? RestoredEpoch { get; init; }
            public string StopReason { get; init; }
            public bool FromCheckpoint { get; init; }
            public double? ValidationLossStandardError { get; init; }
            public IReadOnlyList<float> ValidationLosses { get; init; }
        }

        /// <summary>Reads the fields <see cref="WriteMetrics"/> wrote, then the format's own with
        /// <paramref name="readTail"/>.</summary>
        public static EpochRecord ReadRecord(BinaryReader r, Func<BinaryReader, Tail> readTail)
        {
            int epoch = r.ReadInt32();
            int frozenCount = r.ReadInt32();
            if (frozenCount < 0 || frozenCount > ResNetStages.All.Length)
                throw new InvalidDataException($"{frozenCount} frozen stages");
            var frozen = Enumerable.Range(0, frozenCount).Select(_ => Stage(r.ReadInt32())).ToList();
            long trainable = r.ReadInt64();
            var rates = new Dictionary<ResNetStage, double>();
            foreach (var stage in ResNetStages.All)
            {
                double rate = r.ReadDouble();
                if (!double.IsNaN(rate)) rates[stage] = rate;
            }
            double trainLoss = r.ReadDouble(), trainAccuracy = r.ReadDouble();
            double valLoss = r.ReadDouble(), valAccuracy = r.ReadDouble(), speed = r.ReadDouble();
            var tail = readTail(r);
            return new EpochRecord
            {
                Epoch = epoch, FrozenStages = frozen, TrainableParameters = trainable, StageLearningRates = rates,
                TrainLoss = trainLoss, TrainAccuracy = trainAccuracy,
                ValidationLoss = double.IsNaN(valLoss) ? null : valLoss,
                ValidationAccuracy = double.IsNaN(valAccuracy) ? null : valAccuracy,
                ImagesPerSecond = speed,
                CachedBoundary = tail.CachedBoundary, ValidationCachedBoundary = tail.ValidationCachedBoundary,
                ThawReason = tail.ThawReason, RestoredEpoch = tail.RestoredEpoch, StopReason = tail.StopReason,
                Duration = tail.Duration, FromCheckpoint = tail.FromCheckpoint,
                ValidationLossStandardError = tail.ValidationLossStandardError,
                ValidationLosses = tail.ValidationLosses,
            };
        }

        private static ResNetStage Stage(int value)
            => Enum.IsDefined((ResNetStage)value) ? (ResNetStage)value
                : throw new InvalidDataException($"unknown stage {value}");

        internal static void WriteOptional(BinaryWriter w, string text)
        {
            w.Write(text != null);
            if (text != null) w.Write(text);
        }

        internal static string ReadOptional(BinaryReader r) => r.ReadBoolean() ? r.ReadString() : null;
    }
}

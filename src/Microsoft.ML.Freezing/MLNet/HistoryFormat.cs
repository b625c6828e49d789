// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace Microsoft.ML.Freezing
{
    /// <summary>The "History" stream of a saved FrozenResNet model: one record per epoch.</summary>
    internal static class HistoryFormat
    {
        // int: count; per epoch: int epoch; int n; n ints (frozen stages); long trainable parameters; one double per
        // stage (learning rate, NaN when absent); 5 doubles (train loss and accuracy, validation loss and accuracy
        // (NaN when absent), images per second); long duration ticks; int skipped invalid images (since 0x00010002).
        private const int MaxEpochs = 1_000_000;

        public static void Write(BinaryWriter w, IReadOnlyList<FrozenResNetEpoch> history)
        {
            w.Write(history.Count);
            foreach (var epoch in history)
                WriteRecord(w, epoch);
        }

        public static List<FrozenResNetEpoch> Read(BinaryReader r, bool withSkippedImages)
        {
            int count = r.ReadInt32();
            if (count < 0 || count > MaxEpochs) throw new InvalidDataException($"{count} epochs");
            var history = new List<FrozenResNetEpoch>(count);
            for (int i = 0; i < count; i++)
                history.Add(ReadRecord(r, withSkippedImages));
            return history;
        }

        private static void WriteRecord(BinaryWriter w, FrozenResNetEpoch epoch)
        {
            var record = epoch.Record;
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
            w.Write(record.Duration.Ticks);
            w.Write(epoch.SkippedInvalidImages); // since 0x00010002
        }

        private static FrozenResNetEpoch ReadRecord(BinaryReader r, bool withSkippedImages)
        {
            int epoch = r.ReadInt32();
            int frozenCount = r.ReadInt32();
            if (frozenCount < 0 || frozenCount > ResNetStages.All.Length)
                throw new InvalidDataException($"{frozenCount} frozen stages");
            var frozen = Enumerable.Range(0, frozenCount).Select(_ => (ResNetStage)r.ReadInt32()).ToList();
            long trainable = r.ReadInt64();
            var rates = new Dictionary<ResNetStage, double>();
            foreach (var stage in ResNetStages.All)
            {
                double rate = r.ReadDouble();
                if (!double.IsNaN(rate)) rates[stage] = rate;
            }
            double trainLoss = r.ReadDouble(), trainAccuracy = r.ReadDouble();
            double valLoss = r.ReadDouble(), valAccuracy = r.ReadDouble();
            double imagesPerSecond = r.ReadDouble();
            long ticks = r.ReadInt64();
            int skippedImages = withSkippedImages ? r.ReadInt32() : 0;
            if (skippedImages < 0) throw new InvalidDataException($"{skippedImages} skipped images");
            var record = new EpochRecord
            {
                Epoch = epoch, FrozenStages = frozen, TrainableParameters = trainable, StageLearningRates = rates,
                TrainLoss = trainLoss, TrainAccuracy = trainAccuracy,
                ValidationLoss = double.IsNaN(valLoss) ? null : valLoss,
                ValidationAccuracy = double.IsNaN(valAccuracy) ? null : valAccuracy,
                ImagesPerSecond = imagesPerSecond, Duration = TimeSpan.FromTicks(ticks),
            };
            return new FrozenResNetEpoch(record, skippedImages);
        }
    }
}

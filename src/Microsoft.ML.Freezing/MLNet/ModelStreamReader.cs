// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;
using Microsoft.ML.Runtime;
using TorchSharp;

namespace Microsoft.ML.Freezing
{
    /// <summary>How a kind of saved model names itself in errors ("FrozenResNet model", "a FrozenResNet model").
    /// </summary>
    internal sealed record ModelKind(string Title, string Noun, string Component);

    /// <summary>
    /// Loads one model part of an ML.NET zip strictly: version checks with messages that name the part and this
    /// library, main fields whose shortage names what was being read, named streams verified against their SHA-256
    /// (when the part has a "Checksums" stream) before they are parsed, and errors that name the stream.
    /// </summary>
    internal sealed class ModelStreamReader
    {
        private readonly ModelLoadContext _ctx;
        private readonly ModelKind _kind;
        private ModelChecksums _checksums;

        /// <summary>Checks the part's version against <paramref name="ours"/>.</summary>
        public ModelStreamReader(ModelLoadContext ctx, ModelKind kind, VersionInfo ours)
        {
            _ctx = ctx;
            _kind = kind;
            ctx.CheckAtModel();
            Format = CheckVersion(ours, typeof(ModelStreamReader).Assembly.GetName().Version);
        }

        /// <summary>The format version the part was written in (at most the one this library writes).</summary>
        public uint Format { get; }

        /// <summary>A load error in the part's name (ML.NET surfaces its message).</summary>
        public Exception Malformed(string message) => Contracts.ExceptDecode($"{_kind.Title}: {message}");

        /// <summary>Reads a value of the main stream; a short stream names what was being read.</summary>
        public T Read<T>(Func<BinaryReader, T> read, string what)
        {
            try
            {
                return read(_ctx.Reader);
            }
            catch (EndOfStreamException)
            {
                throw Malformed($"the main stream ends before {what} (truncated or not {_kind.Noun}).");
            }
        }

        /// <summary>Reads the network definition from the main stream.</summary>
        public ResNetDefinition ReadDefinition()
        {
            try
            {
                return ResNetDefinition.Load(_ctx.Reader);
            }
            catch (InvalidDataException ex)
            {
                throw Malformed(ex.Message);
            }
        }

        /// <summary>
        /// Loads the "Checksums" stream and checks the main fields against it (re-serialised by
        /// <paramref name="writeMain"/> as the writer wrote them); every later <see cref="Load"/> is verified too.
        /// </summary>
        public void VerifyMain(Action<BinaryWriter> writeMain, string contents)
        {
            Load(ModelChecksums.StreamName, "checksums", s => _checksums = ModelChecksums.Read(s));
            string mismatch = _checksums.Mismatch(ModelChecksums.Main, ModelStreamWriter.Serialize(writeMain));
            if (mismatch != null)
                throw Malformed($"the main stream ({contents}) is malformed: {mismatch}.");
        }

        /// <summary>
        /// Loads a named binary stream; a missing, truncated, altered or malformed stream gives an error naming it.
        /// </summary>
        public void Load(string name, string part, Action<BinaryReader> load)
        {
            bool found;
            try
            {
                found = _ctx.TryLoadBinaryStream(name, reader => LoadVerified(name, reader, load));
            }
            catch (Exception ex) when (ex is EndOfStreamException || ex is InvalidDataException || ex is IOException
                || ex is ArgumentException || ex is FormatException || ex is OverflowException)
            {
                throw Malformed($"stream '{name}' ({part}) is truncated or malformed: {ex.Message}");
            }
            if (!found)
                throw Malformed($"stream '{name}' ({part}) is missing from the model.");
        }

        private void LoadVerified(string name, BinaryReader reader, Action<BinaryReader> load)
        {
            if (_checksums == null)
            {
                load(reader);
                return;
            }
            var (bytes, mismatch) = _checksums.ReadVerified(name, reader.BaseStream);
            if (mismatch != null)
                throw new InvalidDataException(mismatch);
            // Visible, so that a reader may keep the verified bytes instead of copying them (SavedWeights).
            using var verified = new BinaryReader(new MemoryStream(bytes, 0, bytes.Length, writable: false,
                publiclyVisible: true));
            load(verified);
        }

        internal const string PreprocessingStream = "Preprocessing";
        internal const string WeightsStream = "Weights";

        /// <summary>
        /// Reads what <see cref="ModelStreamWriter.WriteNetwork"/> wrote: the preprocessing, and the saved weights of a
        /// network of <paramref name="definition"/>, checked but not yet a TorchSharp module (the runner builds it when
        /// someone needs it, on its device: <see cref="PlaceOnDevice"/>), so that scoring with ONNX Runtime never loads
        /// libtorch. <paramref name="build"/> makes the transformer of the runner; the runner is disposed when anything
        /// fails.
        /// </summary>
        public T LoadNetwork<T>(IHostEnvironment env, ResNetDefinition definition, ComputeDevice saved,
            Func<ImageBatchRunner, T> build)
        {
            ImagePreprocessing preprocessing = null;
            Load(PreprocessingStream, "preprocessing", s => preprocessing = ImagePreprocessing.Load(s));
            SavedWeights weights = null;
            Load(WeightsStream, "network weights",
                s => weights = SavedWeights.Read(s, definition, _checksums?.HashOf(WeightsStream)));
            var runner = new ImageBatchRunner(weights, preprocessing, PlaceOnDevice(env, saved));
            try
            {
                return build(runner);
            }
            catch
            {
                runner.Dispose();
                throw;
            }
        }

        /// <summary>
        /// The device to run on: the saved one, or the CPU (with a warning) when CUDA is not available here. Only a
        /// model saved for CUDA asks TorchSharp (which loads libtorch).
        /// </summary>
        private ComputeDevice PlaceOnDevice(IHostEnvironment env, ComputeDevice saved)
        {
            if (saved == ComputeDevice.Cuda && !torch.cuda.is_available())
            {
                using var channel = env.Register(_kind.Component).Start("Load");
                channel.Warning($"The {_kind.Title} was saved for CUDA, which is not available here; " +
                    "running on the CPU.");
                return ComputeDevice.Cpu;
            }
            return saved;
        }

        /// <summary>
        /// The version checks of ML.NET's <c>CheckAtModel(VersionInfo)</c>, with messages that name the model part and
        /// this library. A part written by a newer version loads when that version declared it readable by this one.
        /// </summary>
        private uint CheckVersion(VersionInfo ours, Version library)
        {
            var header = _ctx.Header;
            string part = $"{_kind.Title} part '{_ctx.Directory ?? "(root)"}'";
            string reads = $"this Microsoft.ML.Freezing ({library}) reads formats 0x{ours.VerWeCanReadBack:X8} to " +
                $"0x{ours.VerWrittenCur:X8}";
            if (header.ModelSignature != ours.ModelSignature)
                throw Contracts.ExceptDecode(
                    $"{part} is not {_kind.Noun} (model signature 0x{header.ModelSignature:X16}).");
            if (header.ModelVerReadable > header.ModelVerWritten)
                throw Contracts.ExceptDecode($"{part} has a corrupt header: it needs a reader of format " +
                    $"0x{header.ModelVerReadable:X8} but was written in format 0x{header.ModelVerWritten:X8}.");
            if (header.ModelVerReadable > ours.VerWrittenCur)
                throw Contracts.ExceptDecode($"{part} was saved in format 0x{header.ModelVerWritten:X8} by a newer " +
                    $"Microsoft.ML.Freezing and needs a reader of format 0x{header.ModelVerReadable:X8}; {reads}. " +
                    "Update the Microsoft.ML.Freezing package to load it.");
            if (header.ModelVerWritten < ours.VerWeCanReadBack)
                throw Contracts.ExceptDecode($"{part} was saved in format 0x{header.ModelVerWritten:X8}, older " +
                    $"than the oldest this Microsoft.ML.Freezing ({library}) reads (0x{ours.VerWeCanReadBack:X8}).");
            return Math.Min(header.ModelVerWritten, ours.VerWrittenCur);
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Saves one model part of an ML.NET zip: the main fields and every named stream, each recorded with its SHA-256 in
    /// the "Checksums" stream (<see cref="ModelChecksums"/>) that <see cref="ModelStreamReader"/> verifies on load.
    /// </summary>
    /// <remarks>
    /// This helper, <see cref="ModelStreamReader"/> and MLNet/Internal are the only users of ML.NET's internal
    /// save/load plumbing (compiled against publicized references; see eng/Publicizer.targets).
    /// </remarks>
    internal sealed class ModelStreamWriter
    {
        private readonly ModelSaveContext _ctx;
        private readonly ModelChecksums _checksums = new ModelChecksums();

        public ModelStreamWriter(ModelSaveContext ctx, VersionInfo version)
        {
            _ctx = ctx;
            ctx.CheckAtModel();
            ctx.SetVersionInfo(version);
        }

        /// <summary>Writes the main fields; their bytes are checksummed as <see cref="ModelChecksums.Main"/>.</summary>
        public void WriteMain(Action<BinaryWriter> write)
        {
            var bytes = Serialize(write);
            _checksums.Add(ModelChecksums.Main, bytes);
            _ctx.Writer.Write(bytes);
        }

        /// <summary>Writes a named binary stream and records its checksum.</summary>
        public void WriteStream(string name, Action<BinaryWriter> write)
        {
            var bytes = Serialize(write);
            _checksums.Add(name, bytes);
            _ctx.SaveBinaryStream(name, w => w.Write(bytes));
        }

        /// <summary>Writes the "Checksums" stream; call it last.</summary>
        /// <summary>The streams both transformers write for their network: "Preprocessing"
        /// (<see cref="ImagePreprocessing.Save"/>) and "Weights" (TorchSharp's <c>module.save</c>); read back by
        /// <see cref="ModelStreamReader.LoadNetwork"/>.</summary>
        public void WriteNetwork(ImagePreprocessing preprocessing, ResNet network)
        {
            WriteStream(ModelStreamReader.PreprocessingStream, s => preprocessing.Save(s));
            WriteStream(ModelStreamReader.WeightsStream, s => network.save(s));
        }

        public void WriteChecksums() => _ctx.SaveBinaryStream(ModelChecksums.StreamName, _checksums.Write);

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
    }
}

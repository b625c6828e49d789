// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Security.Cryptography;
using System.Text;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// The container of a training checkpoint: named sections, each checked by its SHA-256, so that a damaged or
    /// truncated file is detected before anything in it is used.
    /// </summary>
    /// <remarks>
    /// Binary format (little-endian, strings as .NET <see cref="BinaryWriter"/> writes them), version 3 (version 1
    /// lacked the validation loss's standard error in the history, version 2 the head-only baseline):
    /// <code>
    /// 8 bytes   magic "FRZCKPT1"
    /// int32     format version (3); a reader refuses a version it does not know
    /// int32     section count
    /// per section:
    ///   string  name
    ///   int64   length in bytes
    ///   bytes   the section (its layout: TrainingCheckpoint)
    ///   32 bytes SHA-256 of the section's bytes
    /// 8 bytes   end marker "FRZCKEND" (a file cut short lacks it)
    /// </code>
    /// </remarks>
    internal static class CheckpointFile
    {
        /// <summary>The format this library writes and reads.</summary>
        public const int FormatVersion = 3;

        private const int HashBytes = 32;
        private const int MaxSections = 64;
        private static readonly byte[] Magic = Encoding.ASCII.GetBytes("FRZCKPT1");
        private static readonly byte[] EndMarker = Encoding.ASCII.GetBytes("FRZCKEND");

        /// <summary>
        /// Writes the sections to <paramref name="stream"/>; <paramref name="afterSection"/> runs after each one
        /// (the test hook that pauses a write half way).
        /// </summary>
        public static void Write(Stream stream, IReadOnlyList<(string Name, byte[] Bytes)> sections,
            Action<int> afterSection = null)
        {
            using var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
            writer.Write(Magic);
            writer.Write(FormatVersion);
            writer.Write(sections.Count);
            for (int i = 0; i < sections.Count; i++)
            {
                var (name, bytes) = sections[i];
                writer.Write(name);
                writer.Write(bytes.LongLength);
                writer.Write(bytes);
                writer.Write(SHA256.HashData(bytes));
                afterSection?.Invoke(i);
            }
            writer.Write(EndMarker);
            writer.Flush();
        }

        /// <summary>The verified sections of the file at <paramref name="path"/>.</summary>
        /// <exception cref="InvalidDataException">The file is not a checkpoint, is of an unknown version, or is
        /// truncated or damaged (the message says where).</exception>
        public static Dictionary<string, byte[]> Read(string path)
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            using var reader = new BinaryReader(stream, Encoding.UTF8);
            try
            {
                if (!reader.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic))
                    throw new InvalidDataException("it is not a Microsoft.ML.Freezing checkpoint (no magic number)");
                int version = reader.ReadInt32();
                if (version != FormatVersion)
                    throw new InvalidDataException($"it is in checkpoint format {version}; this " +
                        $"Microsoft.ML.Freezing reads format {FormatVersion}");
                int count = reader.ReadInt32();
                if (count < 0 || count > MaxSections)
                    throw new InvalidDataException($"its header announces {count} sections");
                var sections = new Dictionary<string, byte[]>(StringComparer.Ordinal);
                for (int i = 0; i < count; i++)
                {
                    string name = reader.ReadString();
                    long length = reader.ReadInt64();
                    if (length < 0 || length > stream.Length - stream.Position)
                        throw new InvalidDataException(
                            $"section '{name}' claims {length:N0} bytes, more than are left");
                    var bytes = reader.ReadBytes((int)length);
                    var hash = reader.ReadBytes(HashBytes);
                    if (hash.Length != HashBytes)
                        throw new EndOfStreamException();
                    if (!SHA256.HashData(bytes).AsSpan().SequenceEqual(hash))
                        throw new InvalidDataException($"section '{name}' does not match its SHA-256 checksum " +
                            "(its bytes were altered or damaged)");
                    sections[name] = bytes;
                }
                if (!reader.ReadBytes(EndMarker.Length).AsSpan().SequenceEqual(EndMarker))
                    throw new InvalidDataException("it lacks the end marker (cut short)");
                return sections;
            }
            catch (EndOfStreamException)
            {
                throw new InvalidDataException("it ends early (truncated)");
            }
        }

        /// <summary>What <paramref name="write"/> writes, as bytes (one section).</summary>
        public static byte[] Section(Action<BinaryWriter> write)
        {
            using var stream = new MemoryStream();
            using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
            {
                write(writer);
                writer.Flush();
            }
            return stream.ToArray();
        }
    }
}

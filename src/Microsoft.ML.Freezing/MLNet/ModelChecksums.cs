// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Security.Cryptography;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// The SHA-256 and length of each part of a saved model, stored in its "Checksums" stream and verified on load.
    /// Binary format, version 1: int32 version (1); int32 count; per part: string name, int64 length, 32 bytes SHA-256.
    /// </summary>
    internal sealed class ModelChecksums
    {
        /// <summary>The name under which the main stream's fields are recorded.</summary>
        public const string Main = "main";
        /// <summary>The binary stream that holds the checksums.</summary>
        public const string StreamName = "Checksums";

        private const int FormatVersion = 1;
        private const int HashBytes = 32;
        private readonly Dictionary<string, (long Length, byte[] Hash)> _parts =
            new Dictionary<string, (long, byte[])>(StringComparer.Ordinal);

        public void Add(string name, byte[] bytes) => _parts[name] = (bytes.LongLength, SHA256.HashData(bytes));

        /// <summary>The recorded SHA-256 of <paramref name="name"/>'s bytes (null when none was recorded): after a
        /// verified load, the hash of the bytes read.</summary>
        public byte[] HashOf(string name) => _parts.TryGetValue(name, out var part) ? (byte[])part.Hash.Clone() : null;

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

        /// <summary>
        /// Reads <paramref name="stream"/> to its end into one array of the recorded length (no growing buffer: a
        /// ResNet-18's weights stream is 45 MB, and a growing copy left three times that as garbage at load), then
        /// checks it. Returns the bytes and why they are not what was saved as <paramref name="name"/> (null when they
        /// are).
        /// </summary>
        public (byte[] Bytes, string Mismatch) ReadVerified(string name, Stream stream)
        {
            if (!_parts.TryGetValue(name, out var expected) || expected.Length > Array.MaxLength)
                return (null, "it has no recorded checksum (the model was altered after saving)");
            var bytes = FreshArray(expected.Length);
            int read = stream.ReadAtLeast(bytes, bytes.Length, throwOnEndOfStream: false);
            long extra = 0;
            var scratch = new byte[4096];
            for (int n; (n = stream.Read(scratch)) > 0;)
                extra += n;
            if (read < bytes.Length || extra > 0)
                return (null, $"it has {read + extra:N0} bytes, but {expected.Length:N0} were saved");
            return (bytes, Mismatch(name, bytes));
        }

        // An array for a stream about to be read into it: a large one in the pinned heap, advised into huge pages
        // before its first write.
        private static byte[] FreshArray(long length)
        {
            if (length < 4 << 20)
                return new byte[length];
            var bytes = GC.AllocateUninitializedArray<byte>((int)length, pinned: true);
            NativeHeap.AdviseHugePages(System.Runtime.InteropServices.Marshal.UnsafeAddrOfPinnedArrayElement(bytes, 0),
                length);
            return bytes;
        }

        /// <summary>
        /// Why <paramref name="bytes"/> are not what was saved as <paramref name="name"/>, or null when they are.
        /// </summary>
        public string Mismatch(string name, byte[] bytes)
        {
            if (!_parts.TryGetValue(name, out var expected))
                return "it has no recorded checksum (the model was altered after saving)";
            if (bytes.LongLength != expected.Length)
                return $"it has {bytes.LongLength:N0} bytes, but {expected.Length:N0} were saved";
            if (!SHA256.HashData(bytes).AsSpan().SequenceEqual(expected.Hash))
                return "its SHA-256 checksum does not match the one recorded when the model was saved "
                    + "(its bytes were altered or damaged)";
            return null;
        }
    }
}

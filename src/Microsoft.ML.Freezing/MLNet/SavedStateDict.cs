// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// A state dict in TorchSharp's own format (what <c>Module.save(BinaryWriter)</c> writes, the "Weights" stream of
    /// a saved model), read without TorchSharp: names, element types and shapes, and where each tensor's bytes lie in
    /// the buffer (which is kept, not copied). Scoring with ONNX Runtime then needs neither libtorch nor a module.
    /// </summary>
    /// <remarks>
    /// The format (TorchSharp 0.10x, <c>Module.save_state_dict</c> and <c>TensorExtensionMethods.Save</c>), where
    /// "uleb" is an unsigned LEB128 integer (7 bits per byte, least significant group first, high bit set on every
    /// byte but the last):
    /// <list type="bullet">
    /// <item>uleb: the number of entries, then for each entry, in the state dict's order:</item>
    /// <item>string: the name, as <c>BinaryWriter.Write(string)</c> writes it (7-bit encoded UTF-8 byte count, then
    /// the UTF-8 bytes);</item>
    /// <item>uleb: the element type (TorchSharp's <c>ScalarType</c>: 4 int64, 6 float32, ...);</item>
    /// <item>uleb: the number of dimensions, then one uleb per dimension;</item>
    /// <item>the elements, contiguous in row-major order, as libtorch holds them in memory (little-endian on every
    /// platform libtorch ships for).</item>
    /// </list>
    /// Nothing follows the last entry. TorchSharp's <c>Module.load</c> reads the entries by name.
    /// </remarks>
    internal sealed class SavedStateDict
    {
        private readonly Dictionary<string, Entry> _byName;

        private SavedStateDict(byte[] buffer, List<Entry> entries)
        {
            Buffer = buffer;
            Entries = entries;
            _byName = new Dictionary<string, Entry>(entries.Count, StringComparer.Ordinal);
            foreach (var entry in entries)
            {
                if (!_byName.TryAdd(entry.Name, entry))
                    throw new InvalidDataException($"The state dict holds '{entry.Name}' twice.");
            }
        }

        /// <summary>One tensor: name, element type, shape, and its bytes' place in <see cref="Buffer"/>.</summary>
        internal sealed record Entry(string Name, ScalarType Type, long[] Shape, int Offset, int Length);

        /// <summary>The bytes the entries point into.</summary>
        public byte[] Buffer { get; }

        /// <summary>The entries in the order they were saved.</summary>
        public IReadOnlyList<Entry> Entries { get; }

        public bool TryGet(string name, out Entry entry) => _byName.TryGetValue(name, out entry);

        /// <summary>The bytes of <paramref name="entry"/>.</summary>
        public ReadOnlyMemory<byte> Bytes(Entry entry) => new ReadOnlyMemory<byte>(Buffer, entry.Offset, entry.Length);

        /// <summary>
        /// Parses <paramref name="buffer"/>, which must hold one state dict and nothing after it.
        /// </summary>
        /// <exception cref="InvalidDataException">Not a state dict in this format, or truncated.</exception>
        public static SavedStateDict Parse(byte[] buffer)
        {
            int position = 0;
            long count = ReadUleb(buffer, ref position);
            // Every entry takes at least 4 bytes: no count can exceed that, whatever the header claims.
            if (count > buffer.Length / 4)
                throw new InvalidDataException($"The state dict claims {count} entries in {buffer.Length} bytes.");
            var entries = new List<Entry>((int)count);
            for (long i = 0; i < count; i++)
            {
                string name = ReadString(buffer, ref position);
                long code = ReadUleb(buffer, ref position);
                var type = (ScalarType)code;
                int elementSize = ElementSize(type);
                if (code > sbyte.MaxValue || elementSize == 0)
                    throw new InvalidDataException(
                        $"'{name}' has element type {code}, which this reader does not know.");
                long rank = ReadUleb(buffer, ref position);
                if (rank > 64)
                    throw new InvalidDataException($"'{name}' claims {rank} dimensions.");
                var shape = new long[rank];
                long elements = 1;
                for (int d = 0; d < rank; d++)
                {
                    shape[d] = ReadUleb(buffer, ref position);
                    // Checked: a shape that overflows is malformed (OverflowException is reported as such).
                    elements = checked(elements * shape[d]);
                }
                long length = checked(elements * elementSize);
                if (length > buffer.Length - position)
                    throw new EndOfStreamException(
                        $"'{name}' needs {length} bytes of data; {buffer.Length - position} are left.");
                entries.Add(new Entry(name, type, shape, position, (int)length));
                position += (int)length;
            }
            if (position != buffer.Length)
                throw new InvalidDataException(
                    $"{buffer.Length - position} bytes follow the state dict's last entry.");
            return new SavedStateDict(buffer, entries);
        }

        /// <summary>Bytes per element of the types a state dict may hold; 0 for any other.</summary>
        internal static int ElementSize(ScalarType type) => type switch
        {
            ScalarType.Byte or ScalarType.Int8 or ScalarType.Bool => 1,
            ScalarType.Int16 or ScalarType.Float16 or ScalarType.BFloat16 => 2,
            ScalarType.Int32 or ScalarType.Float32 => 4,
            ScalarType.Int64 or ScalarType.Float64 => 8,
            _ => 0,
        };

        /// <summary>An unsigned LEB128 integer of at most 63 bits.</summary>
        private static long ReadUleb(byte[] buffer, ref int position)
        {
            long value = 0;
            for (int shift = 0; ; shift += 7)
            {
                if (position >= buffer.Length)
                    throw new EndOfStreamException("The state dict ends inside an integer.");
                byte b = buffer[position++];
                if (shift == 63 ? b > 0 : shift > 63)
                    throw new InvalidDataException("The state dict holds an integer that does not fit 63 bits.");
                value |= (long)(b & 0x7f) << shift;
                if ((b & 0x80) == 0)
                    return value;
            }
        }

        /// <summary>A string as <c>BinaryWriter.Write(string)</c> writes it.</summary>
        private static string ReadString(byte[] buffer, ref int position)
        {
            int length = 0;
            for (int shift = 0; ; shift += 7)
            {
                if (position >= buffer.Length)
                    throw new EndOfStreamException("The state dict ends inside a name.");
                if (shift > 28)
                    throw new InvalidDataException("The state dict holds a name of a malformed length.");
                byte b = buffer[position++];
                length |= (b & 0x7f) << shift;
                if ((b & 0x80) == 0)
                    break;
            }
            if (length < 0 || length > buffer.Length - position)
                throw new EndOfStreamException("The state dict ends inside a name.");
            string name = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(buffer, position, length);
            position += length;
            return name;
        }
    }
}

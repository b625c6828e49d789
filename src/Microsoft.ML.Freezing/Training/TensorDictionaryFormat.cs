// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Named tensors as raw bytes, so that a checkpoint's weights come back bit for bit.
    /// Binary format: int32 count; per tensor: string name; int32 dtype (TorchSharp's <see cref="ScalarType"/>);
    /// int32 rank; rank int64 sizes; the elements in row-major order, as libtorch holds them.
    /// </summary>
    internal static class TensorDictionaryFormat
    {
        private const int MaxTensors = 100_000;
        private const int Buffer = 1 << 20;

        public static void Write(BinaryWriter w, IEnumerable<(string Name, Tensor Tensor)> tensors)
        {
            var list = tensors.ToList();
            w.Write(list.Count);
            w.Flush();
            foreach (var (name, tensor) in list)
            {
                w.Write(name);
                w.Write((int)tensor.dtype);
                w.Write((int)tensor.dim());
                foreach (long size in tensor.shape)
                    w.Write(size);
                w.Flush();
                using var scope = NewDisposeScope(); // holds detach() and cpu() until contiguous() returned
                var cpu = tensor.detach().cpu().contiguous();
                cpu.WriteBytesToStream(w.BaseStream, Buffer);
            }
        }

        /// <summary>Copies the stored tensors into <paramref name="target"/>'s tensors of the same names.</summary>
        /// <exception cref="InvalidDataException">A name, dtype or shape differs from the target's.</exception>
        public static void ReadInto(BinaryReader r, IReadOnlyDictionary<string, Tensor> target)
        {
            var read = Read(r);
            try
            {
                var missing = target.Keys.Except(read.Keys).ToList();
                if (missing.Count > 0 || read.Count != target.Count)
                    throw new InvalidDataException($"the stored tensors do not match the network's " +
                        $"({read.Count} stored, {target.Count} expected; first missing: {missing.FirstOrDefault()})");
                using var noGrad = no_grad();
                foreach (var (name, tensor) in target)
                {
                    var stored = read[name];
                    if (stored.dtype != tensor.dtype || !stored.shape.SequenceEqual(tensor.shape))
                        throw new InvalidDataException($"tensor '{name}' is stored as {stored.dtype} " +
                            $"[{string.Join(", ", stored.shape)}], the network has {tensor.dtype} " +
                            $"[{string.Join(", ", tensor.shape)}]");
                    tensor.copy_(stored);
                }
            }
            finally
            {
                foreach (var t in read.Values) t.Dispose();
            }
        }

        /// <summary>The stored tensors, on the CPU; the caller disposes them.</summary>
        public static Dictionary<string, Tensor> Read(BinaryReader r)
        {
            int count = r.ReadInt32();
            if (count < 0 || count > MaxTensors)
                throw new InvalidDataException($"{count} tensors");
            var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            try
            {
                for (int i = 0; i < count; i++)
                {
                    string name = r.ReadString();
                    var dtype = (ScalarType)r.ReadInt32();
                    int rank = r.ReadInt32();
                    if (rank < 0 || rank > 8)
                        throw new InvalidDataException($"tensor '{name}' has rank {rank}");
                    var shape = new long[rank];
                    for (int d = 0; d < rank; d++)
                        shape[d] = r.ReadInt64();
                    if (shape.Any(s => s < 0))
                        throw new InvalidDataException($"tensor '{name}' has a negative size");
                    var tensor = empty(shape, dtype).DetachFromDisposeScope();
                    result[name] = tensor;
                    long bytes = tensor.numel() * tensor.element_size();
                    if (bytes > r.BaseStream.Length - r.BaseStream.Position)
                        throw new EndOfStreamException();
                    tensor.ReadBytesFromStream(r.BaseStream, Buffer);
                }
                return result;
            }
            catch
            {
                foreach (var t in result.Values) t.Dispose();
                throw;
            }
        }
    }
}

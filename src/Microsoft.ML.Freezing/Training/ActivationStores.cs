// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.IO.MemoryMappedFiles;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>Per-example activations of one stage output, written once and read every later epoch.</summary>
    internal abstract class ActivationStore : IDisposable
    {
        private readonly bool[] _filled;
        private int _filledCount;

        protected ActivationStore(int count, long[] exampleShape)
        {
            _filled = new bool[count];
            ExampleShape = exampleShape;
            ExampleFloats = exampleShape.Aggregate(1L, (a, b) => a * b);
        }

        public long[] ExampleShape { get; }
        public long ExampleFloats { get; }
        public bool IsComplete => _filledCount == _filled.Length;
        public abstract long MemoryBytes { get; }

        /// <summary>Stores the activations [B, ...] of the examples at <paramref name="indices"/>.</summary>
        public void Put(IReadOnlyList<int> indices, Tensor activations)
        {
            Write(indices, activations);
            foreach (int i in indices)
            {
                if (!_filled[i])
                {
                    _filled[i] = true;
                    _filledCount++;
                }
            }
        }

        /// <summary>The stored activations of <paramref name="indices"/>, as one [B, ...] tensor.</summary>
        public abstract Tensor Get(IReadOnlyList<int> indices);

        protected abstract void Write(IReadOnlyList<int> indices, Tensor activations);

        public abstract void Dispose();

        protected long[] BatchShape(int batch) => new[] { (long)batch }.Concat(ExampleShape).ToArray();
    }

    /// <summary>Activations in one preallocated tensor.</summary>
    internal sealed class MemoryActivationStore : ActivationStore
    {
        private readonly Tensor _all;

        public MemoryActivationStore(int count, long[] exampleShape) : base(count, exampleShape)
        {
            // Uninitialised: a store is read only once complete. Its pages are first touched by the fill pass's
            // copies, in huge pages where the kernel grants them (the recipe's 421 MB cost 0.6 s of page faults).
            _all = empty(BatchShape(count)).DetachFromDisposeScope();
            NativeHeap.AdviseHugePages(_all.storage<float>().data_ptr(), MemoryBytes);
        }

        public override long MemoryBytes => _all.numel() * sizeof(float);

        public override Tensor Get(IReadOnlyList<int> indices)
        {
            using var index = tensor(indices.Select(i => (long)i).ToArray());
            return _all.index_select(0, index);
        }

        protected override void Write(IReadOnlyList<int> indices, Tensor activations)
        {
            using var values = activations.to(ScalarType.Float32, CPU);
            if (Consecutive(indices))
            {
                // The fill pass writes batches in index order: one block copy instead of index_copy_'s per-element
                // walk.
                using var block = _all.narrow(0, indices[0], indices.Count);
                block.copy_(values);
                return;
            }
            using var index = tensor(indices.Select(i => (long)i).ToArray());
            _all.index_copy_(0, index, values); // in place: returns _all itself, which must not be disposed
        }

        private static bool Consecutive(IReadOnlyList<int> indices)
        {
            for (int i = 1; i < indices.Count; i++)
            {
                if (indices[i] != indices[0] + i)
                    return false;
            }
            return indices.Count > 0;
        }

        public override void Dispose() => _all.Dispose();
    }

    /// <summary>Activations in a memory-mapped temporary file (when they do not fit the memory cap).</summary>
    internal sealed class MappedActivationStore : ActivationStore
    {
        private readonly string _path;
        private readonly MemoryMappedFile _file;
        private readonly MemoryMappedViewAccessor _view;

        public MappedActivationStore(int count, long[] exampleShape, string folder) : base(count, exampleShape)
        {
            Directory.CreateDirectory(folder);
            _path = Path.Combine(folder, $"frozen-resnet-activations-{Environment.ProcessId}-{Guid.NewGuid():N}.bin");
            long bytes = count * ExampleFloats * sizeof(float);
            _file = MemoryMappedFile.CreateFromFile(_path, FileMode.CreateNew, null, bytes,
                MemoryMappedFileAccess.ReadWrite);
            _view = _file.CreateViewAccessor(0, bytes);
        }

        public override long MemoryBytes => 0;

        public override Tensor Get(IReadOnlyList<int> indices)
        {
            var values = new float[indices.Count * ExampleFloats];
            for (int i = 0; i < indices.Count; i++)
                _view.ReadArray(indices[i] * ExampleFloats * sizeof(float), values, (int)(i * ExampleFloats),
                    (int)ExampleFloats);
            return tensor(values, BatchShape(indices.Count));
        }

        protected override void Write(IReadOnlyList<int> indices, Tensor activations)
        {
            using var scope = NewDisposeScope();
            var cpu = activations.to(ScalarType.Float32, CPU).contiguous();
            var values = cpu.data<float>().ToArray();
            for (int i = 0; i < indices.Count; i++)
                _view.WriteArray(indices[i] * ExampleFloats * sizeof(float), values, (int)(i * ExampleFloats),
                    (int)ExampleFloats);
        }

        public override void Dispose()
        {
            _view.Dispose();
            _file.Dispose();
            try
            {
                File.Delete(_path);
            }
            catch (IOException)
            {
                // A leftover temp file is harmless; the next run writes a new one.
            }
        }
    }
}

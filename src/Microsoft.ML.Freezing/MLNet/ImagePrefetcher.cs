// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Threading;
using Microsoft.ML.Data;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Reads and preprocesses the images ahead of the network, in order, into at most <c>depth</c> batches. Several
    /// reader threads share the work: each has its own cursor over the input and decodes every k-th row (cursors
    /// without shuffling visit rows in the same order, so row r is the same image for all of them). The readers run at
    /// a lowered priority: on spare cores they decode while the network computes; where the network's threads use
    /// every core, they take the gaps, and all cores when the network waits for them. Errors (a corrupt image, say)
    /// surface on the consumer, as they were thrown, when it reaches the batch of the first failing row. Each cursor
    /// is used by its reader thread only, and disposed once that thread has stopped.
    /// </summary>
    internal sealed class ImagePrefetcher : IDisposable
    {
        private readonly object _gate = new object();
        private readonly int _batchSize;
        private readonly int _depth;
        private readonly Reader[] _readers;
        private readonly Dictionary<long, Slot> _slots = new Dictionary<long, Slot>();
        private long _consumed;     // batches handed to the consumer
        private long _total = -1;   // rows in the input, once a reader has reached its end
        private bool _stopping;
        private bool _disposed;

        private sealed class Slot
        {
            public byte[][] Images;
            public int Done;
        }

        private sealed class Reader
        {
            public DataViewRowCursor Cursor;
            public Func<byte[]> Read;
            public Thread Thread;
            public long Next;                 // every row of this reader below Next is done
            public bool Ended;
            public long FailedRow = -1;
            public ExceptionDispatchInfo Error;
        }

        /// <param name="cursors">One cursor over the image column per reader thread, each with its reader
        /// function.</param>
        /// <param name="batchSize">Images per batch handed to the consumer.</param>
        /// <param name="depth">The most decoded batches held ahead of the consumer.</param>
        public ImagePrefetcher(IReadOnlyList<(DataViewRowCursor Cursor, Func<byte[]> Read)> cursors, int batchSize,
            int depth)
        {
            _batchSize = batchSize;
            _depth = depth;
            _readers = cursors.Select((c, k) => new Reader { Cursor = c.Cursor, Read = c.Read, Next = k }).ToArray();
            for (int k = 0; k < _readers.Length; k++)
            {
                int index = k;
                _readers[k].Thread = new Thread(() => Run(index))
                {
                    IsBackground = true, Name = $"FrozenResNet image reader {k}",
                };
                _readers[k].Thread.Start();
            }
        }

        /// <summary>Reader threads for this machine: one per core, at most four.</summary>
        public static int ReaderCount => Math.Clamp(Environment.ProcessorCount, 1, 4);

        private void Run(int k)
        {
            var reader = _readers[k];
            LowerPriority();
            long row = -1;
            try
            {
                while (true)
                {
                    if (!reader.Cursor.MoveNext())
                    {
                        lock (_gate)
                        {
                            _total = row + 1;
                            reader.Ended = true;
                            Monitor.PulseAll(_gate);
                        }
                        return;
                    }
                    row++;
                    if (row % _readers.Length != k)
                        continue;
                    long batch = row / _batchSize;
                    lock (_gate)
                    {
                        while (!_stopping && batch >= _consumed + _depth)
                            Monitor.Wait(_gate);
                        if (_stopping)
                            return;
                    }
                    var image = reader.Read();
                    lock (_gate)
                    {
                        if (!_slots.TryGetValue(batch, out var slot))
                            _slots[batch] = slot = new Slot { Images = new byte[_batchSize][] };
                        slot.Images[row % _batchSize] = image;
                        slot.Done++;
                        reader.Next = row + _readers.Length;
                        Monitor.PulseAll(_gate);
                    }
                }
            }
            catch (Exception ex)
            {
                lock (_gate)
                {
                    reader.FailedRow = row;
                    reader.Error = ExceptionDispatchInfo.Capture(ex);
                    Monitor.PulseAll(_gate);
                }
            }
        }

        /// <summary>The next batch, in input order; null at the end of the input.</summary>
        public List<byte[]> Next()
        {
            lock (_gate)
            {
                long batch = _consumed;
                long first = batch * _batchSize;
                while (true)
                {
                    int size = _total < 0 ? _batchSize : (int)Math.Clamp(_total - first, 0, _batchSize);
                    if (_total >= 0 && size == 0)
                        return null;
                    if (_slots.TryGetValue(batch, out var slot) && slot.Done == size)
                    {
                        _slots.Remove(batch);
                        _consumed++;
                        Monitor.PulseAll(_gate);
                        return slot.Images.Take(size).ToList();
                    }
                    // A failure in this batch is reported once no other reader can still fail at an earlier row.
                    var failed = _readers.Where(r => r.Error != null && r.FailedRow < first + _batchSize)
                        .OrderBy(r => r.FailedRow).FirstOrDefault();
                    if (failed != null && _readers.All(r => r.Error != null || r.Ended || r.Next > failed.FailedRow))
                        failed.Error.Throw();
                    Monitor.Wait(_gate);
                }
            }
        }

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            lock (_gate)
            {
                _stopping = true;
                Monitor.PulseAll(_gate);
            }
            foreach (var reader in _readers)
            {
                reader.Thread.Join(); // a reader stops within one image
                reader.Cursor.Dispose();
            }
        }

        /// <summary>Lowers the calling thread's priority, so that the network's threads come first.</summary>
        private static void LowerPriority()
        {
            try
            {
                if (OperatingSystem.IsLinux())
                    _ = setpriority(0 /* PRIO_PROCESS: on Linux, the thread */, gettid(), 10);
                else
                    Thread.CurrentThread.Priority = ThreadPriority.BelowNormal;
            }
            catch (Exception ex) when (ex is DllNotFoundException || ex is EntryPointNotFoundException
                || ex is PlatformNotSupportedException)
            {
                // Normal priority then: correct, only less polite to the network's threads.
            }
        }

        [DllImport("libc", SetLastError = true)]
        private static extern int setpriority(int which, int who, int prio);

        [DllImport("libc")]
        private static extern int gettid();
    }
}

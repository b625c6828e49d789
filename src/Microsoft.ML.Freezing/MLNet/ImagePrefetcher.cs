// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Channels;
using Microsoft.ML.Data;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Reads and preprocesses the images ahead of the network, in order, about <c>depth</c> batches ahead. Several
    /// reader threads share the work: reader k has its own cursor over the input and decodes rows k, k + n, k + 2n...
    /// (cursors without shuffling visit rows in the same order, so row r is the same image for all of them) into its
    /// own bounded channel; the consumer takes row r from channel r mod n, so order needs no bookkeeping and a
    /// failure (a corrupt image, say) surfaces, as it was thrown, exactly when the consumer reaches its row. The
    /// readers run at a lowered priority: on spare cores they decode while the network computes; where the network's
    /// threads use every core, they take the gaps, and all cores when the network waits for them. Each cursor is used
    /// by its reader thread only, and disposed once that thread has stopped.
    /// </summary>
    internal sealed class ImagePrefetcher : IDisposable
    {
        private readonly int _batchSize;
        private readonly Reader[] _readers;
        private readonly CancellationTokenSource _stopping = new CancellationTokenSource();
        private long _nextRow;
        private bool _ended;
        private bool _disposed;

        // One decoded row, or the failure of the row the reader was on.
        private readonly record struct Decoded(byte[] Image, ExceptionDispatchInfo Error);

        private sealed class Reader
        {
            public DataViewRowCursor Cursor;
            public Func<byte[]> Read;
            public Channel<Decoded> Rows;
            public Thread Thread;
        }

        /// <param name="cursors">One cursor over the image column per reader thread, each with its reader
        /// function.</param>
        /// <param name="batchSize">Images per batch handed to the consumer.</param>
        /// <param name="depth">About how many decoded batches are held ahead of the consumer.</param>
        public ImagePrefetcher(IReadOnlyList<(DataViewRowCursor Cursor, Func<byte[]> Read)> cursors, int batchSize,
            int depth)
        {
            _batchSize = batchSize;
            int perReader = Math.Max(1, (depth * batchSize + cursors.Count - 1) / cursors.Count);
            _readers = cursors.Select(c => new Reader
            {
                Cursor = c.Cursor, Read = c.Read,
                Rows = Channel.CreateBounded<Decoded>(new BoundedChannelOptions(perReader)
                {
                    SingleReader = true, SingleWriter = true,
                }),
            }).ToArray();
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
            try
            {
                for (long row = 0; ; row++)
                {
                    Decoded decoded;
                    try
                    {
                        if (!reader.Cursor.MoveNext())
                            return;
                        if (row % _readers.Length != k)
                            continue;
                        decoded = new Decoded(reader.Read(), null);
                    }
                    catch (Exception ex)
                    {
                        decoded = new Decoded(null, ExceptionDispatchInfo.Capture(ex)); // surfaces at this row
                    }
                    // A dedicated thread, so blocking here is the point: it waits while the consumer is depth ahead.
                    reader.Rows.Writer.WriteAsync(decoded, _stopping.Token).AsTask().GetAwaiter().GetResult();
                    if (decoded.Error != null)
                        return;
                }
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
            }
            finally
            {
                reader.Rows.Writer.TryComplete();
            }
        }

        /// <summary>The next batch, in input order; null at the end of the input.</summary>
        public List<byte[]> Next()
        {
            var batch = new List<byte[]>(_batchSize);
            while (!_ended && batch.Count < _batchSize)
            {
                var rows = _readers[_nextRow % _readers.Length].Rows.Reader;
                if (!rows.WaitToReadAsync().AsTask().GetAwaiter().GetResult() || !rows.TryRead(out var decoded))
                {
                    _ended = true; // this reader's cursor ended before row _nextRow: the input has _nextRow rows
                    break;
                }
                decoded.Error?.Throw();
                batch.Add(decoded.Image);
                _nextRow++;
            }
            return batch.Count == 0 ? null : batch;
        }

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            _stopping.Cancel();
            foreach (var reader in _readers)
            {
                reader.Thread.Join(); // a reader stops within one image
                reader.Cursor.Dispose();
            }
            _stopping.Dispose();
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

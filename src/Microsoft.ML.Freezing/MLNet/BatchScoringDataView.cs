using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Threading;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// The output of <see cref="FrozenResNetTransformer.Transform"/>: the input's columns plus Score and PredictedLabel,
    /// with the network run on batches of images. Reader threads with their own cursors over the input read, decode and
    /// resize the images of up to <see cref="PrefetchBatches"/> batches ahead while the network computes (see
    /// <see cref="Prefetcher"/>; memory stays at a few batches); the main cursor serves rows. Cursors without shuffling
    /// visit rows in the same order, so they stay aligned. One cursor folds the network once
    /// (<see cref="FrozenResNetModel.BatchScorer"/>). When neither output is requested, the row-by-row view (which then
    /// does no scoring) serves the cursor.
    /// </summary>
    internal sealed class BatchScoringDataView : IDataView
    {
        /// <summary>Decoded batches the reader threads may hold ahead of the network.</summary>
        internal const int PrefetchBatches = 2;

        private readonly IHost _host;
        private readonly FrozenResNetTransformer _parent;
        private readonly IDataView _input;
        private readonly IDataView _rowByRow;
        private readonly int _featureIndex;

        public BatchScoringDataView(IHost host, FrozenResNetTransformer parent, IDataView input, IDataView rowByRow)
        {
            _host = host;
            _parent = parent;
            _input = input;
            _rowByRow = rowByRow;
            _featureIndex = parent.FeatureColumnIndex(input.Schema);
        }

        /// <summary>Input columns first (same indices), then Score and PredictedLabel.</summary>
        public DataViewSchema Schema => _rowByRow.Schema;

        public bool CanShuffle => false;

        public long? GetRowCount() => _input.GetRowCount();

        public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random rand = null)
        {
            var needed = columnsNeeded.ToList();
            int inputCount = _input.Schema.Count;
            if (!needed.Any(c => c.Index >= inputCount))
                return _rowByRow.GetRowCursor(needed, rand);
            var rows = _input.GetRowCursor(needed.Where(c => c.Index < inputCount).Select(c => _input.Schema[c.Index]));
            var readers = new List<(DataViewRowCursor, Func<byte[]>)>();
            try
            {
                for (int k = 0; k < Prefetcher.ReaderCount; k++)
                {
                    var ahead = _input.GetRowCursor(new[] { _input.Schema[_featureIndex] });
                    readers.Add((ahead, null));
                    readers[k] = (ahead, ImageColumn.MakeReader(ahead, ahead.Schema[_featureIndex], _parent.Model.Preprocessing));
                }
            }
            catch
            {
                foreach (var (cursor, _) in readers) cursor.Dispose();
                rows.Dispose();
                throw;
            }
            return new Cursor(this, rows, readers, needed.Where(c => c.Index >= inputCount).Select(c => c.Index - inputCount).ToArray());
        }

        public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random rand = null)
            => new[] { GetRowCursor(columnsNeeded, rand) };

        private sealed class Cursor : DataViewRowCursor
        {
            private readonly BatchScoringDataView _view;
            private readonly DataViewRowCursor _rows;
            private readonly bool[] _activeOutputs = new bool[2];
            private readonly int _inputCount;
            private readonly FrozenResNetModel.BatchScorer _scorer;
            private readonly Prefetcher _prefetch;
            private float[][] _scores = Array.Empty<float[]>();
            private long _firstBuffered;

            public Cursor(BatchScoringDataView view, DataViewRowCursor rows, IReadOnlyList<(DataViewRowCursor, Func<byte[]>)> readers, int[] activeOutputs)
            {
                _view = view;
                _rows = rows;
                _inputCount = view._input.Schema.Count;
                _prefetch = new Prefetcher(readers, FrozenResNetTransformer.ScoringBatchSize, PrefetchBatches);
                _scorer = new FrozenResNetModel.BatchScorer(view._parent.Model);
                foreach (int i in activeOutputs)
                    _activeOutputs[i] = true;
            }

            public override DataViewSchema Schema => _view.Schema;
            public override long Position => _rows.Position;
            public override long Batch => _rows.Batch;

            public override bool MoveNext()
            {
                if (!_rows.MoveNext())
                    return false;
                if (_rows.Position - _firstBuffered >= _scores.Length)
                    ScoreNextBatch();
                return true;
            }

            private void ScoreNextBatch()
            {
                _firstBuffered = _rows.Position;
                var images = _prefetch.Next();
                if (images == null || images.Count == 0)
                    throw _view._host.Except("The input yielded fewer rows on a second pass than on the first; it cannot be scored in batches.");
                _scores = _scorer.Score(images);
            }

            private float[] Current => _scores[_rows.Position - _firstBuffered];

            public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
            {
                if (column.Index < _inputCount)
                    return _rows.GetGetter<TValue>(_rows.Schema[column.Index]);
                _view._host.Check(IsColumnActive(column), $"Column '{column.Name}' was not requested from the cursor.");
                Delegate getter = column.Index - _inputCount == 0
                    ? (ValueGetter<VBuffer<float>>)((ref VBuffer<float> value) => Scores.Write(Current, ref value))
                    : (ValueGetter<uint>)((ref uint value) => value = Scores.PredictedKey(Current));
                return getter as ValueGetter<TValue>
                    ?? throw _view._host.Except($"Column '{column.Name}' is of type {column.Type}, not {typeof(TValue).Name}.");
            }

            public override ValueGetter<DataViewRowId> GetIdGetter() => _rows.GetIdGetter();

            public override bool IsColumnActive(DataViewSchema.Column column)
                => column.Index < _inputCount ? _rows.IsColumnActive(_rows.Schema[column.Index]) : _activeOutputs[column.Index - _inputCount];

            protected override void Dispose(bool disposing)
            {
                if (disposing)
                {
                    _prefetch.Dispose(); // stops the reader, then disposes its cursor
                    _scorer.Dispose();
                    _rows.Dispose();
                }
                base.Dispose(disposing);
            }
        }

        /// <summary>
        /// Reads and preprocesses the images ahead of the network, in order, into at most <c>depth</c> batches. Several
        /// reader threads share the work: each has its own cursor over the input and decodes every k-th row (cursors
        /// without shuffling visit rows in the same order, so row r is the same image for all of them). The readers run at
        /// a lowered priority: on spare cores they decode while the network computes; where the network's threads use
        /// every core, they take the gaps, and all cores when the network waits for them. Errors (a corrupt image, say)
        /// surface on the consumer, as they were thrown, when it reaches the batch of the first failing row. Each cursor
        /// is used by its reader thread only, and disposed once that thread has stopped.
        /// </summary>
        private sealed class Prefetcher : IDisposable
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

            /// <param name="cursors">One cursor over the image column per reader thread, each with its reader function.</param>
            public Prefetcher(IReadOnlyList<(DataViewRowCursor Cursor, Func<byte[]> Read)> cursors, int batchSize, int depth)
            {
                _batchSize = batchSize;
                _depth = depth;
                _readers = cursors.Select((c, k) => new Reader { Cursor = c.Cursor, Read = c.Read, Next = k }).ToArray();
                for (int k = 0; k < _readers.Length; k++)
                {
                    int index = k;
                    _readers[k].Thread = new Thread(() => Run(index)) { IsBackground = true, Name = $"FrozenResNet image reader {k}" };
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
                        var failed = _readers.Where(r => r.Error != null && r.FailedRow < first + _batchSize).OrderBy(r => r.FailedRow).FirstOrDefault();
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
                catch (Exception ex) when (ex is DllNotFoundException || ex is EntryPointNotFoundException || ex is PlatformNotSupportedException)
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
}

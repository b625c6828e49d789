// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// The output of a transform that runs a network on batches of images: the input's columns (same indices), then the
    /// transform's output columns. Reader threads with their own cursors over the input read, decode and resize the
    /// images of up to <see cref="PrefetchBatches"/> batches ahead while the network computes
    /// (<see cref="ImagePrefetcher"/>; memory stays at a few batches); the main cursor serves rows. Cursors without
    /// shuffling visit rows in the same order, so they stay aligned. When no output column is requested, the row-by-row
    /// view (which then computes nothing) serves the cursor. Subclasses say what a batch computes
    /// (<see cref="StartBatches"/>) and how a row's result is read (<see cref="MakeGetter"/>).
    /// </summary>
    internal abstract class BatchedImageDataView : IDataView
    {
        /// <summary>Decoded batches the reader threads may hold ahead of the network.</summary>
        internal const int PrefetchBatches = 2;

        private readonly IDataView _rowByRow;
        private readonly int _imageIndex;
        private readonly ImagePreprocessing _preprocessing;
        private readonly int _batchSize;

        /// <param name="host">The transformer's host, for argument checks and exceptions.</param>
        /// <param name="input">The view being transformed; its rows are read in batches.</param>
        /// <param name="rowByRow">The row-to-row mapper's view of the same transform: its schema is this
        /// view's.</param>
        /// <param name="imageIndex">The index of the encoded-image column in <paramref name="input"/>'s schema.</param>
        /// <param name="preprocessing">How the images are decoded, resized and normalised for the network.</param>
        /// <param name="batchSize">Images per forward pass.</param>
        protected BatchedImageDataView(IHost host, IDataView input, IDataView rowByRow, int imageIndex,
            ImagePreprocessing preprocessing, int batchSize)
        {
            Host = host;
            Input = input;
            _rowByRow = rowByRow;
            _imageIndex = imageIndex;
            _preprocessing = preprocessing;
            _batchSize = batchSize;
        }

        protected IHost Host { get; }
        protected IDataView Input { get; }

        public DataViewSchema Schema => _rowByRow.Schema;

        public bool CanShuffle => false;

        public long? GetRowCount() => Input.GetRowCount();

        /// <summary>A per-cursor computation (e.g. one folded network per pass); disposed with the cursor.</summary>
        protected abstract IBatchComputation StartBatches();

        /// <summary>The getter of output column <paramref name="output"/> (0-based after the input's), reading the
        /// current row's result.</summary>
        protected abstract Delegate MakeGetter(int output, Func<float[]> current);

        public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random rand = null)
        {
            var needed = columnsNeeded.ToList();
            int inputCount = Input.Schema.Count;
            if (!needed.Any(c => c.Index >= inputCount))
                return _rowByRow.GetRowCursor(needed, rand);
            var rows = Input.GetRowCursor(needed.Where(c => c.Index < inputCount).Select(c => Input.Schema[c.Index]));
            var readers = new List<(DataViewRowCursor, Func<byte[]>)>();
            try
            {
                for (int k = 0; k < ImagePrefetcher.ReaderCount; k++)
                {
                    var ahead = Input.GetRowCursor(new[] { Input.Schema[_imageIndex] });
                    readers.Add((ahead, null));
                    readers[k] = (ahead, ImageColumn.MakeReader(ahead, ahead.Schema[_imageIndex], _preprocessing));
                }
            }
            catch
            {
                foreach (var (cursor, _) in readers) cursor.Dispose();
                rows.Dispose();
                throw;
            }
            return new Cursor(this, rows, readers,
                needed.Where(c => c.Index >= inputCount).Select(c => c.Index - inputCount).ToArray());
        }

        public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n,
            Random rand = null)
            => new[] { GetRowCursor(columnsNeeded, rand) };

        /// <summary>What a batch of preprocessed images becomes: one float vector per image.</summary>
        internal interface IBatchComputation : IDisposable
        {
            float[][] Compute(List<byte[]> images);
        }

        private sealed class Cursor : DataViewRowCursor
        {
            private readonly BatchedImageDataView _view;
            private readonly DataViewRowCursor _rows;
            private readonly HashSet<int> _activeOutputs;
            private readonly int _inputCount;
            private readonly ImagePrefetcher _prefetch;
            private readonly IBatchComputation _batches;
            private float[][] _results = Array.Empty<float[]>();
            private long _firstBuffered;

            public Cursor(BatchedImageDataView view, DataViewRowCursor rows,
                IReadOnlyList<(DataViewRowCursor, Func<byte[]>)> readers, int[] activeOutputs)
            {
                _view = view;
                _rows = rows;
                _inputCount = view.Input.Schema.Count;
                _activeOutputs = new HashSet<int>(activeOutputs);
                _prefetch = new ImagePrefetcher(readers, view._batchSize, PrefetchBatches);
                try
                {
                    _batches = view.StartBatches();
                }
                catch
                {
                    _prefetch.Dispose(); // stops the readers and disposes their cursors
                    rows.Dispose();
                    throw;
                }
            }

            public override DataViewSchema Schema => _view.Schema;
            public override long Position => _rows.Position;
            public override long Batch => _rows.Batch;

            public override bool MoveNext()
            {
                if (!_rows.MoveNext())
                    return false;
                if (_rows.Position - _firstBuffered >= _results.Length)
                    ComputeNextBatch();
                return true;
            }

            private void ComputeNextBatch()
            {
                _firstBuffered = _rows.Position;
                var images = _prefetch.Next();
                if (images == null || images.Count == 0)
                    throw _view.Host.Except(
                        "The input yielded fewer rows on a second pass than on the first; it cannot be processed in " +
                        "batches.");
                _results = _batches.Compute(images);
            }

            private float[] Current() => _results[_rows.Position - _firstBuffered];

            public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
            {
                if (column.Index < _inputCount)
                    return _rows.GetGetter<TValue>(_rows.Schema[column.Index]);
                _view.Host.Check(IsColumnActive(column), $"Column '{column.Name}' was not requested from the cursor.");
                return _view.MakeGetter(column.Index - _inputCount, Current) as ValueGetter<TValue>
                    ?? throw _view.Host.Except(
                    $"Column '{column.Name}' is of type {column.Type}, not {typeof(TValue).Name}.");
            }

            public override ValueGetter<DataViewRowId> GetIdGetter() => _rows.GetIdGetter();

            public override bool IsColumnActive(DataViewSchema.Column column)
                => column.Index < _inputCount ? _rows.IsColumnActive(_rows.Schema[column.Index])
                    : _activeOutputs.Contains(column.Index - _inputCount);

            protected override void Dispose(bool disposing)
            {
                if (disposing)
                {
                    _prefetch.Dispose(); // stops the readers, then disposes their cursors
                    _batches.Dispose();
                    _rows.Dispose();
                }
                base.Dispose(disposing);
            }
        }
    }
}

using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// The output of <see cref="ResNetFeaturizerTransformer.Transform"/>: the input's columns plus the feature column, with
    /// the network run on batches of images (the pattern of <c>BatchScoringDataView</c>). A second cursor over the input
    /// reads ahead one batch of images while the main cursor serves rows; cursors without shuffling visit rows in the same
    /// order, so the two stay aligned. When the feature column is not requested, the row-by-row view (which then computes
    /// nothing) serves the cursor.
    /// </summary>
    internal sealed class ResNetFeaturizerDataView : IDataView
    {
        private readonly IHost _host;
        private readonly ResNetFeaturizerTransformer _parent;
        private readonly IDataView _input;
        private readonly IDataView _rowByRow;
        private readonly int _imageIndex;

        public ResNetFeaturizerDataView(IHost host, ResNetFeaturizerTransformer parent, IDataView input, IDataView rowByRow)
        {
            _host = host;
            _parent = parent;
            _input = input;
            _rowByRow = rowByRow;
            _imageIndex = parent.InputColumnIndex(input.Schema);
        }

        /// <summary>Input columns first (same indices; one may be hidden by the output's name), then the feature column.</summary>
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
            var ahead = _input.GetRowCursor(new[] { _input.Schema[_imageIndex] });
            return new Cursor(this, rows, ahead);
        }

        public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random rand = null)
            => new[] { GetRowCursor(columnsNeeded, rand) };

        private sealed class Cursor : DataViewRowCursor
        {
            private readonly ResNetFeaturizerDataView _view;
            private readonly DataViewRowCursor _rows;
            private readonly DataViewRowCursor _ahead;
            private readonly Func<byte[]> _read;
            private readonly int _inputCount;
            private float[][] _features = Array.Empty<float[]>();
            private long _firstBuffered;

            public Cursor(ResNetFeaturizerDataView view, DataViewRowCursor rows, DataViewRowCursor ahead)
            {
                _view = view;
                _rows = rows;
                _ahead = ahead;
                _inputCount = view._input.Schema.Count;
                _read = ImageColumn.MakeReader(ahead, ahead.Schema[view._imageIndex], view._parent.Preprocessing);
            }

            public override DataViewSchema Schema => _view.Schema;
            public override long Position => _rows.Position;
            public override long Batch => _rows.Batch;

            public override bool MoveNext()
            {
                if (!_rows.MoveNext())
                    return false;
                if (_rows.Position - _firstBuffered >= _features.Length)
                    FeaturizeNextBatch();
                return true;
            }

            private void FeaturizeNextBatch()
            {
                _firstBuffered = _rows.Position;
                int batchSize = _view._parent.BatchSize;
                var images = new List<byte[]>(batchSize);
                while (images.Count < batchSize && _ahead.MoveNext())
                    images.Add(_read());
                if (images.Count == 0)
                    throw _view._host.Except("The input yielded fewer rows on a second pass than on the first; it cannot be featurized in batches.");
                _features = _view._parent.GetFeatures(images);
            }

            public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
            {
                if (column.Index < _inputCount)
                    return _rows.GetGetter<TValue>(_rows.Schema[column.Index]);
                _view._host.Check(IsColumnActive(column), $"Column '{column.Name}' was not requested from the cursor.");
                Delegate getter = (ValueGetter<VBuffer<float>>)((ref VBuffer<float> value)
                    => ResNetFeaturizerTransformer.WriteFeatures(_features[_rows.Position - _firstBuffered], ref value));
                return getter as ValueGetter<TValue>
                    ?? throw _view._host.Except($"Column '{column.Name}' is of type {column.Type}, not {typeof(TValue).Name}.");
            }

            public override ValueGetter<DataViewRowId> GetIdGetter() => _rows.GetIdGetter();

            public override bool IsColumnActive(DataViewSchema.Column column)
                => column.Index < _inputCount ? _rows.IsColumnActive(_rows.Schema[column.Index]) : column.Index == _inputCount;

            protected override void Dispose(bool disposing)
            {
                if (disposing)
                {
                    _rows.Dispose();
                    _ahead.Dispose();
                }
                base.Dispose(disposing);
            }
        }
    }
}

using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// The output of <see cref="FrozenResNetTransformer.Transform"/>: the input's columns plus Score and PredictedLabel,
    /// with the network run on batches of images. A second cursor over the input reads ahead one batch of images while
    /// the main cursor serves rows; cursors without shuffling visit rows in the same order, so the two stay aligned.
    /// When neither output is requested, the row-by-row view (which then does no scoring) serves the cursor.
    /// </summary>
    internal sealed class BatchScoringDataView : IDataView
    {
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
            var ahead = _input.GetRowCursor(new[] { _input.Schema[_featureIndex] });
            return new Cursor(this, rows, ahead, needed.Where(c => c.Index >= inputCount).Select(c => c.Index - inputCount).ToArray());
        }

        public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random rand = null)
            => new[] { GetRowCursor(columnsNeeded, rand) };

        private sealed class Cursor : DataViewRowCursor
        {
            private readonly BatchScoringDataView _view;
            private readonly DataViewRowCursor _rows;
            private readonly DataViewRowCursor _ahead;
            private readonly Func<byte[]> _read;
            private readonly bool[] _activeOutputs = new bool[2];
            private readonly int _inputCount;
            private float[][] _scores = Array.Empty<float[]>();
            private long _firstBuffered;

            public Cursor(BatchScoringDataView view, DataViewRowCursor rows, DataViewRowCursor ahead, int[] activeOutputs)
            {
                _view = view;
                _rows = rows;
                _ahead = ahead;
                _inputCount = view._input.Schema.Count;
                _read = ImageColumn.MakeReader(ahead, ahead.Schema[view._featureIndex], view._parent.Model.Preprocessing);
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
                var images = new List<byte[]>(FrozenResNetTransformer.ScoringBatchSize);
                while (images.Count < FrozenResNetTransformer.ScoringBatchSize && _ahead.MoveNext())
                    images.Add(_read());
                if (images.Count == 0)
                    throw _view._host.Except("The input yielded fewer rows on a second pass than on the first; it cannot be scored in batches.");
                _scores = _view._parent.Model.Score(images);
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
                    _rows.Dispose();
                    _ahead.Dispose();
                }
                base.Dispose(disposing);
            }
        }
    }
}

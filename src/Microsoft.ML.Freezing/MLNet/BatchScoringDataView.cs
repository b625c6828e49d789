// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// The output of <see cref="ResNetTransformerBase.Transform(IDataView)"/>: the input's columns plus Score and
    /// PredictedLabel, scored in batches of <see cref="FrozenResNetTransformer.ScoringBatchSize"/> with images read
    /// ahead (<see cref="BatchedImageDataView"/>). One cursor folds the network once
    /// (<see cref="FrozenResNetModel.BatchScorer"/>).
    /// </summary>
    internal sealed class BatchScoringDataView : BatchedImageDataView
    {
        private readonly FrozenResNetTransformer _parent;

        public BatchScoringDataView(IHost host, FrozenResNetTransformer parent, IDataView input, IDataView rowByRow)
            : base(host, input, rowByRow, parent.ImageColumnIndex(input.Schema), parent.Preprocessing,
                  FrozenResNetTransformer.ScoringBatchSize)
        {
            _parent = parent;
        }

        protected override IBatchComputation StartBatches()
            => new Scoring(new FrozenResNetModel.BatchScorer(_parent.Model, Warn));

        /// <summary>A numerical fallback of the folded network, in ML.NET's log (<c>MLContext.Log</c>).</summary>
        private void Warn(string message)
        {
            using var channel = Host.Start("FrozenResNet");
            channel.Warning(message);
        }

        /// <summary>Output 0 is Score (the probabilities), 1 PredictedLabel (their arg-max as a key).</summary>
        protected override Delegate MakeGetter(int output, Func<float[]> current) => output == 0
            ? (ValueGetter<VBuffer<float>>)((ref VBuffer<float> value)
                => ResNetTransformerBase.WriteVector(current(), ref value))
            : (ValueGetter<uint>)((ref uint value) => value = Scores.PredictedKey(current()));

        private sealed class Scoring : IBatchComputation
        {
            private readonly FrozenResNetModel.BatchScorer _scorer;
            public Scoring(FrozenResNetModel.BatchScorer scorer) => _scorer = scorer;
            public float[][] Compute(List<byte[]> images) => _scorer.Score(images);
            public void Dispose() => _scorer.Dispose();
        }
    }
}

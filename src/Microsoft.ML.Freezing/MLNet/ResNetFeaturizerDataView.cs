// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// The output of <see cref="ResNetTransformerBase.Transform(IDataView)"/>: the input's columns plus the feature
    /// column, featurized in batches of <see cref="ResNetFeaturizerTransformer.BatchSize"/> images with images read
    /// ahead (<see cref="BatchedImageDataView"/>).
    /// </summary>
    internal sealed class ResNetFeaturizerDataView : BatchedImageDataView
    {
        private readonly ResNetFeaturizerTransformer _parent;

        public ResNetFeaturizerDataView(IHost host, ResNetFeaturizerTransformer parent, IDataView input,
            IDataView rowByRow)
            : base(host, input, rowByRow, parent.ImageColumnIndex(input.Schema), parent.Preprocessing, parent.BatchSize)
        {
            _parent = parent;
        }

        protected override IBatchComputation StartBatches() => new Featurizing(_parent);

        protected override Delegate MakeGetter(int output, Func<float[]> current)
            => (ValueGetter<VBuffer<float>>)((ref VBuffer<float> value)
                => ResNetTransformerBase.WriteVector(current(), ref value));

        private sealed class Featurizing : IBatchComputation
        {
            private readonly ResNetFeaturizerTransformer _parent;
            public Featurizing(ResNetFeaturizerTransformer parent) => _parent = parent;
            public float[][] Compute(List<byte[]> images) => _parent.GetFeatures(images);
            public void Dispose() { }
        }
    }
}

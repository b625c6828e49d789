// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Freezing
{
    public sealed partial class FrozenResNetTransformer
    {
        /// <summary>Row-by-row scoring (PredictionEngine, and any consumer of the row-to-row mapper).</summary>
        private sealed class Mapper : MapperBase
        {
            private readonly FrozenResNetTransformer _parent;
            private readonly int _featureIndex;

            public Mapper(FrozenResNetTransformer parent, DataViewSchema inputSchema)
                : base(parent.Host.Register(nameof(Mapper)), inputSchema, parent)
            {
                _parent = parent;
                _featureIndex = parent.ImageColumnIndex(inputSchema);
            }

            protected override DataViewSchema.DetachedColumn[] GetOutputColumnsCore()
                => _parent.OutputColumns(InputSchema);

            public override Delegate[] CreateGetters(DataViewRow input, Func<int, bool> activeOutput,
                out Action disposer)
            {
                disposer = null;
                var getters = new Delegate[2];
                if (!activeOutput(0) && !activeOutput(1))
                    return getters;
                // Both outputs share one forward pass per row.
                var read = ImageColumn.MakeReader(input, input.Schema[_featureIndex], _parent.Model.Preprocessing,
                    reuse: true); // scored before the next row is read
                long cachedPosition = -1;
                float[] probabilities = null;
                float[] Current()
                {
                    if (cachedPosition != input.Position)
                    {
                        probabilities = _parent.Model.Score(new[] { read() })[0];
                        cachedPosition = input.Position;
                    }
                    return probabilities;
                }
                if (activeOutput(0))
                    getters[0] = (ValueGetter<VBuffer<float>>)((ref VBuffer<float> value)
                        => WriteVector(Current(), ref value));
                if (activeOutput(1))
                    getters[1] = (ValueGetter<uint>)((ref uint value) => value = Scores.PredictedKey(Current()));
                return getters;
            }

            protected override Delegate MakeGetter(DataViewRow input, int iinfo, Func<int, bool> activeOutput,
                out Action disposer)
                => throw new NotSupportedException("CreateGetters builds both getters together.");

            public override Func<int, bool> GetDependenciesCore(Func<int, bool> activeOutput)
                => column => column == _featureIndex && (activeOutput(0) || activeOutput(1));

            public override void SaveModel(ModelSaveContext ctx) => _parent.SaveModel(ctx);
        }
    }

    /// <summary>Reading probabilities as ML.NET values.</summary>
    internal static class Scores
    {
        /// <summary>The 1-based key of the most probable class (ties: the first).</summary>
        public static uint PredictedKey(float[] probabilities)
        {
            int best = 0;
            for (int i = 1; i < probabilities.Length; i++)
                if (probabilities[i] > probabilities[best]) best = i;
            return (uint)(best + 1);
        }
    }
}

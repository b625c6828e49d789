// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.ObjectPool;
using Microsoft.ML;

namespace Samples.Serving
{
    /// <summary>
    /// A pool of ML.NET <c>PredictionEngine</c>s over one shared pipeline (what <c>PredictionEnginePool</c> of
    /// Microsoft.Extensions.ML does, on <c>Microsoft.Extensions.ObjectPool</c>): an engine is not thread-safe, so
    /// each request borrows one for its forward pass. At most <c>engines</c> requests score at once (the others wait):
    /// more concurrent forward passes than cores only oversubscribe them.
    /// </summary>
    public sealed class PredictionPool : IImageScorer
    {
        private readonly ObjectPool<PredictionEngine<LoadedModel.ImageRow, LoadedModel.ScoreRow>> _pool;
        private readonly SemaphoreSlim _gate;

        public PredictionPool(MLContext ml, ITransformer pipeline, int engines)
        {
            if (engines < 1) throw new ArgumentOutOfRangeException(nameof(engines));
            var policy = new EnginePolicy(ml, pipeline);
            _pool = new DefaultObjectPoolProvider { MaximumRetained = engines }.Create(policy);
            _gate = new SemaphoreSlim(engines, engines);
            // One engine now: a pipeline whose columns do not fit fails here, at load, not at the first request.
            _pool.Return(_pool.Get());
        }

        /// <inheritdoc/>
        public string Kind => "pool";

        /// <inheritdoc/>
        public async Task<float[]> ScoreAsync(byte[] image, CancellationToken cancellationToken)
        {
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var engine = _pool.Get();
                float[] score;
                try
                {
                    score = engine.Predict(new LoadedModel.ImageRow { ImageSource = image }).Score;
                }
                catch
                {
                    // An engine that threw may hold half-updated row state: drop it, the pool makes a new one.
                    engine.Dispose();
                    throw;
                }
                _pool.Return(engine);
                return score;
            }
            finally
            {
                _gate.Release();
            }
        }

        /// <summary>Disposes the retained engines (never the shared pipeline).</summary>
        public void Dispose()
        {
            (_pool as IDisposable)?.Dispose();
            _gate.Dispose();
        }

        private sealed class EnginePolicy
            : IPooledObjectPolicy<PredictionEngine<LoadedModel.ImageRow, LoadedModel.ScoreRow>>
        {
            private readonly MLContext _ml;
            private readonly ITransformer _pipeline;

            public EnginePolicy(MLContext ml, ITransformer pipeline)
            {
                _ml = ml;
                _pipeline = pipeline;
            }

            // OwnsTransformer = false: ML.NET's engine would otherwise dispose the pipeline the other engines share.
            public PredictionEngine<LoadedModel.ImageRow, LoadedModel.ScoreRow> Create()
                => _ml.Model.CreatePredictionEngine<LoadedModel.ImageRow, LoadedModel.ScoreRow>(_pipeline,
                    new PredictionEngineOptions { OwnsTransformer = false });

            public bool Return(PredictionEngine<LoadedModel.ImageRow, LoadedModel.ScoreRow> engine) => true;
        }
    }
}

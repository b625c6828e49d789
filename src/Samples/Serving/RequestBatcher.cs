// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks;
using Microsoft.ML;
using Microsoft.ML.Freezing;

namespace Samples.Serving
{
    /// <summary>
    /// Scores requests that arrive together as one batch: one worker takes every queued image (up to
    /// <c>maxBatch</c>) and runs the pipeline's batched <c>Transform</c> on them, while new requests queue for the next
    /// batch. A lone request waits for nothing. An unreadable image fails only its own request: the batch is scored
    /// again without it.
    /// </summary>
    public sealed class RequestBatcher : IImageScorer
    {
        private readonly MLContext _ml;
        private readonly ITransformer _pipeline;
        private readonly int _maxBatch;
        private readonly Channel<Item> _queue = Channel.CreateUnbounded<Item>(
            new UnboundedChannelOptions { SingleReader = true });
        private readonly Task _worker;

        public RequestBatcher(MLContext ml, ITransformer pipeline, int maxBatch)
        {
            if (maxBatch < 1) throw new ArgumentOutOfRangeException(nameof(maxBatch));
            _ml = ml;
            _pipeline = pipeline;
            _maxBatch = maxBatch;
            // The columns must fit now, at load, not at the first request.
            using (_ml.Model.CreatePredictionEngine<LoadedModel.ImageRow, LoadedModel.ScoreRow>(pipeline,
                new PredictionEngineOptions { OwnsTransformer = false })) { }
            _worker = Task.Factory.StartNew(Run, CancellationToken.None, TaskCreationOptions.LongRunning,
                TaskScheduler.Default);
        }

        /// <inheritdoc/>
        public string Kind => "batch";

        /// <inheritdoc/>
        public Task<float[]> ScoreAsync(byte[] image, CancellationToken cancellationToken)
        {
            var item = new Item(image);
            if (!_queue.Writer.TryWrite(item))
                throw new ObjectDisposedException(nameof(RequestBatcher));
            return item.Result.Task;
        }

        /// <summary>Stops the worker after the queued requests (none, when the owning model is released).</summary>
        public void Dispose()
        {
            _queue.Writer.TryComplete();
            _worker.Wait();
        }

        private void Run()
        {
            var reader = _queue.Reader;
            var batch = new List<Item>(_maxBatch);
            while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
            {
                batch.Clear();
                while (batch.Count < _maxBatch && reader.TryRead(out var item))
                    batch.Add(item);
                Score(batch);
            }
        }

        private void Score(List<Item> batch)
        {
            try
            {
                var scores = Transform(batch);
                for (int i = 0; i < batch.Count; i++)
                    batch[i].Result.TrySetResult(scores[i]);
            }
            catch (Exception e) when (batch.Count > 1 && InvalidImageException.Find(e) != null)
            {
                // One unreadable image fails the whole view: score each request alone, so only its own fails.
                foreach (var item in batch)
                    Score(new List<Item> { item });
            }
            catch (Exception e)
            {
                foreach (var item in batch)
                    item.Result.TrySetException(e);
            }
        }

        private List<float[]> Transform(List<Item> batch)
        {
            var rows = _ml.Data.LoadFromEnumerable(
                batch.Select(i => new LoadedModel.ImageRow { ImageSource = i.Image }).ToList());
            return _ml.Data.CreateEnumerable<LoadedModel.ScoreRow>(_pipeline.Transform(rows), reuseRowObject: false)
                .Select(r => r.Score).ToList();
        }

        private sealed class Item
        {
            public Item(byte[] image) => Image = image;
            public byte[] Image { get; }
            public TaskCompletionSource<float[]> Result { get; } =
                new TaskCompletionSource<float[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }
}

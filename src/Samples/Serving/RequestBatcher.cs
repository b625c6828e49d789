// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks;
using Microsoft.ML;
using Microsoft.ML.Freezing;

namespace Samples.Serving
{
    /// <summary>
    /// Scores requests that arrive together as one batch. Each request decodes and resizes its own image on its own
    /// thread with the model's recorded preprocessing (<see cref="ImagePreprocessing.DecodeAndResize"/>, the contract
    /// the transformer scores with), so an unreadable image fails only its own request; one worker then takes every
    /// queued image (up to <c>maxBatch</c>) through one forward pass (<see cref="FrozenResNetModel.Score"/>), while new
    /// requests queue for the next batch. A lone request waits for nothing.
    /// </summary>
    /// <remarks>
    /// The batch goes to the network directly, not through the pipeline's <c>Transform</c>: a <c>Transform</c> cursor
    /// sets up batched reading and folds the network's BatchNorms once per cursor, which costs more than a small batch
    /// saves (measured on 2 cores, ResNet-18 at 112 px, one request at a time: 200-280 ms a request through
    /// <c>Transform</c>, 40-70 ms directly). For the same reason the default batch stays below
    /// <see cref="FrozenResNetModel.FoldingBatchSize"/>, from which <see cref="FrozenResNetModel.Score"/> folds on each
    /// call. The pipeline must feed its FrozenResNet step the request's image column (<c>ImageSource</c>), as the
    /// sample's <c>train</c> and Model Builder's pipelines do; the scores are the pipeline's.
    /// </remarks>
    public sealed class RequestBatcher : IImageScorer
    {
        /// <summary>The default largest batch: just below the size at which scoring folds the network.</summary>
        public const int DefaultMaxBatch = FrozenResNetModel.FoldingBatchSize - 1;

        private readonly FrozenResNetModel _model;
        private readonly int _maxBatch;
        private readonly Channel<Item> _queue = Channel.CreateUnbounded<Item>(
            new UnboundedChannelOptions { SingleReader = true });
        private readonly Task _worker;

        public RequestBatcher(ITransformer pipeline, int maxBatch)
        {
            if (maxBatch < 1) throw new ArgumentOutOfRangeException(nameof(maxBatch));
            if (!CanServe(pipeline, out string why))
                throw new InvalidDataException(why + " Use --scoring pool.");
            _model = LoadedModel.Steps(pipeline).OfType<FrozenResNetTransformer>().Last().Model;
            _maxBatch = maxBatch;
            // On the thread pool, not a dedicated thread: measured here, libtorch's forward pass on a thread of its
            // own (TaskCreationOptions.LongRunning) took 0.2-1.3 s where a pool thread took 40-110 ms.
            _worker = Task.Run(RunAsync);
        }

        /// <summary>Whether batching can score <paramref name="pipeline"/>; else <paramref name="why"/> says why
        /// not.</summary>
        public static bool CanServe(ITransformer pipeline, out string why)
        {
            var frozen = LoadedModel.Steps(pipeline).OfType<FrozenResNetTransformer>().LastOrDefault();
            why = frozen is null ? "the model holds no FrozenResNet."
                : frozen.FeatureColumnName != LoadedModel.ImageColumn
                    ? $"batching needs a FrozenResNet that reads the request's image column " +
                      $"'{LoadedModel.ImageColumn}'; this one reads '{frozen.FeatureColumnName}'."
                    : null;
            return why is null;
        }

        /// <inheritdoc/>
        public string Kind => "batch";

        /// <inheritdoc/>
        /// <exception cref="InvalidDataException">The bytes are not a readable image.</exception>
        public Task<float[]> ScoreAsync(byte[] image, CancellationToken cancellationToken)
        {
            var item = new Item(_model.Preprocessing.DecodeAndResize(image));
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

        private async Task RunAsync()
        {
            var reader = _queue.Reader;
            var batch = new List<Item>(_maxBatch);
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                batch.Clear();
                while (batch.Count < _maxBatch && reader.TryRead(out var item))
                    batch.Add(item);
                try
                {
                    var scores = _model.Score(batch.Select(i => i.Pixels).ToList());
                    for (int i = 0; i < batch.Count; i++)
                        batch[i].Result.TrySetResult(scores[i]);
                }
                catch (Exception e)
                {
                    foreach (var item in batch)
                        item.Result.TrySetException(e);
                }
            }
        }

        private sealed class Item
        {
            public Item(byte[] pixels) => Pixels = pixels;
            public byte[] Pixels { get; }
            public TaskCompletionSource<float[]> Result { get; } =
                new TaskCompletionSource<float[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Threading;
using System.Threading.Tasks;

namespace Samples.Serving
{
    /// <summary>
    /// Scores encoded images with one loaded pipeline, safely from any number of concurrent requests. A damaged image
    /// fails its own call and no other, with the library's <c>InvalidImageException</c> (somewhere in the exception's
    /// chain) or an <see cref="System.IO.InvalidDataException"/>. Disposed by the <see cref="LoadedModel"/> that owns
    /// it once no request uses it.
    /// </summary>
    public interface IImageScorer : IDisposable
    {
        /// <summary>"pool" or "batch".</summary>
        string Kind { get; }

        /// <summary>Class probabilities of one encoded image (png, jpeg, ...), in the model's class order.</summary>
        Task<float[]> ScoreAsync(byte[] image, CancellationToken cancellationToken);
    }

    /// <summary>How <c>serve</c> scores concurrent requests.</summary>
    public enum ScoringMode
    {
        /// <summary>A pool of prediction engines (<see cref="PredictionPool"/>), one image per forward pass; serves any
        /// pipeline.</summary>
        Pool,
        /// <summary>Requests that arrive together scored as one batch (<see cref="RequestBatcher"/>); the
        /// default.</summary>
        Batch,
    }
}

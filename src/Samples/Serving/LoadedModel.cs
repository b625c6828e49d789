// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Threading;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Freezing;

namespace Samples.Serving
{
    /// <summary>
    /// One loaded generation of the served model: the ML.NET pipeline, its <see cref="FrozenResNetTransformer"/>, the
    /// class names and a scorer. Reference counted: the host holds one reference while the generation is current and
    /// each request holds one while it scores, so a replaced generation is disposed (scorer, engines, network) after
    /// the last request that started on it.
    /// </summary>
    public sealed class LoadedModel
    {
        private int _references = 1; // the host's
        private readonly Action<LoadedModel> _onDisposed;

        private LoadedModel(int generation, string path, string sha256, ITransformer pipeline,
            FrozenResNetTransformer frozen, IReadOnlyList<string> classNames, IImageScorer scorer,
            Action<LoadedModel> onDisposed)
        {
            Generation = generation;
            Path = path;
            Sha256 = sha256;
            Pipeline = pipeline;
            Frozen = frozen;
            ClassNames = classNames;
            Scorer = scorer;
            LoadedAt = DateTimeOffset.UtcNow;
            _onDisposed = onDisposed;
        }

        /// <summary>1 for the model loaded at start, then one more per accepted reload.</summary>
        public int Generation { get; }
        /// <summary>The file it was read from.</summary>
        public string Path { get; }
        /// <summary>SHA-256 of the file's bytes, lower-case hex.</summary>
        public string Sha256 { get; }
        /// <summary>When it was loaded.</summary>
        public DateTimeOffset LoadedAt { get; }
        /// <summary>The whole pipeline as saved.</summary>
        public ITransformer Pipeline { get; }
        /// <summary>The FrozenResNet step of the pipeline (network, preprocessing, history).</summary>
        public FrozenResNetTransformer Frozen { get; }
        /// <summary>Class names in score order.</summary>
        public IReadOnlyList<string> ClassNames { get; }
        /// <summary>Scores images with this generation.</summary>
        public IImageScorer Scorer { get; }
        /// <summary>Set by the host when this generation starts answering requests (a refused candidate never
        /// does).</summary>
        public bool Served { get; set; }
        /// <summary>True once the last reference is gone and everything is disposed.</summary>
        public bool IsDisposed => Volatile.Read(ref _references) == 0;

        /// <summary>
        /// Reads a model zip. The bytes are read once, so a file being rewritten is either loaded whole or refused
        /// (its checksums do not match); <paramref name="createScorer"/> makes the scorer for the loaded pipeline.
        /// </summary>
        public static LoadedModel Load(MLContext ml, string path, int generation,
            Func<MLContext, ITransformer, IImageScorer> createScorer, Action<LoadedModel> onDisposed)
        {
            byte[] bytes = File.ReadAllBytes(path);
            string sha256 = Convert.ToHexStringLower(SHA256.HashData(bytes));
            ITransformer pipeline;
            using (var stream = new MemoryStream(bytes, writable: false))
                pipeline = ml.Model.Load(stream, out _);
            try
            {
                var frozen = Steps(pipeline).OfType<FrozenResNetTransformer>().LastOrDefault()
                    ?? throw new InvalidDataException($"'{path}' holds no FrozenResNet model.");
                var scorer = createScorer(ml, pipeline);
                return new LoadedModel(generation, path, sha256, pipeline, frozen, frozen.Model.ClassNames, scorer,
                    onDisposed);
            }
            catch
            {
                (pipeline as IDisposable)?.Dispose();
                throw;
            }
        }

        /// <summary>Takes a reference for a request; false when this generation is already disposed (then read the
        /// host's current generation again).</summary>
        public bool TryAcquire()
        {
            for (int n = Volatile.Read(ref _references); n > 0; n = Volatile.Read(ref _references))
            {
                if (Interlocked.CompareExchange(ref _references, n + 1, n) == n)
                    return true;
            }
            return false;
        }

        /// <summary>Gives a reference back; the last one disposes the scorer and the pipeline.</summary>
        public void Release()
        {
            int n = Interlocked.Decrement(ref _references);
            if (n < 0)
                throw new InvalidOperationException("LoadedModel released more often than acquired.");
            if (n > 0)
                return;
            Scorer.Dispose();
            (Pipeline as IDisposable)?.Dispose();
            _onDisposed?.Invoke(this);
        }

        /// <summary>The transformers of a pipeline (a chain's steps, or the transformer itself).</summary>
        public static IEnumerable<ITransformer> Steps(ITransformer pipeline)
            => pipeline is IEnumerable<ITransformer> chain ? chain.SelectMany(Steps) : new[] { pipeline };

        /// <summary>The request's image column, Model Builder's.</summary>
        public const string ImageColumn = "ImageSource";

        /// <summary>The input row: Model Builder's encoded image column (and a label column the pipeline may read,
        /// left empty).</summary>
        public sealed class ImageRow
        {
            [ColumnName(ImageColumn)]
            public byte[] ImageSource { get; set; }

            [ColumnName("Label")]
            public string Label { get; set; }
        }

        /// <summary>The output row: class probabilities in <see cref="ClassNames"/> order.</summary>
        public sealed class ScoreRow
        {
            [ColumnName("Score")]
            public float[] Score { get; set; }
        }
    }
}

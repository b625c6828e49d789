// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using Microsoft.ML;

namespace Samples.Serving
{
    /// <summary>
    /// The served model and its hot reload. Requests <see cref="Acquire"/> the current generation and release it when
    /// done. A <see cref="FileSystemWatcher"/> on the model file (write, create or rename onto it) starts a reload
    /// after a quiet <see cref="Debounce"/>: the new file is loaded beside the old model, checked (a FrozenResNet
    /// pipeline with the same class names, in the same order) and swapped in; the old generation is disposed after its
    /// last request. A replacement that fails to load or has other classes is refused and logged, and the old model
    /// keeps serving. Dispose releases the current generation (on shutdown, after the requests in flight).
    /// </summary>
    public sealed class ModelHost : IDisposable
    {
        /// <summary>How long the file must stay quiet before it is reloaded (a copy writes it in many steps).</summary>
        public static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(500);

        private readonly string _path;
        private readonly Func<MLContext, ITransformer, IImageScorer> _createScorer;
        private readonly ILogger _log;
        private readonly SemaphoreSlim _reloading = new SemaphoreSlim(1, 1);
        private readonly FileSystemWatcher _watcher;
        private readonly Timer _debounce;
        private LoadedModel _current;
        private bool _disposed;

        public ModelHost(string path, Func<MLContext, ITransformer, IImageScorer> createScorer, ILogger log)
        {
            _path = Path.GetFullPath(path);
            _createScorer = createScorer;
            _log = log;
            _current = Load(generation: 1);
            _current.Served = true;
            _log.LogInformation("Loaded model generation {Generation} from {Path} (sha256 {Sha256}; " +
                "classes {Classes}; scoring {Scoring}).", _current.Generation, _path, _current.Sha256[..12],
                string.Join(", ", _current.ClassNames), _current.Scorer.Kind);

            _debounce = new Timer(_ => _ = ReloadAsync(), null, Timeout.Infinite, Timeout.Infinite);
            _watcher = new FileSystemWatcher(Path.GetDirectoryName(_path), Path.GetFileName(_path))
            {
                NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.FileName
                    | NotifyFilters.CreationTime,
            };
            _watcher.Changed += (_, _) => Touched();
            _watcher.Created += (_, _) => Touched();
            _watcher.Renamed += (_, e) =>
            {
                if (string.Equals(e.FullPath, _path, StringComparison.Ordinal))
                    Touched();
            };
            _watcher.EnableRaisingEvents = true;
        }

        /// <summary>The generation new requests get.</summary>
        public LoadedModel Current => Volatile.Read(ref _current);

        /// <summary>Takes a reference on the current generation; release it with <see cref="LoadedModel.Release"/>.
        /// </summary>
        public LoadedModel Acquire()
        {
            while (true)
            {
                var model = Volatile.Read(ref _current) ?? throw new ObjectDisposedException(nameof(ModelHost));
                if (model.TryAcquire())
                    return model;
                // Replaced and disposed between the read and the acquire: the next read sees its successor.
            }
        }

        /// <summary>
        /// Loads the file again now (the watcher calls this after the debounce). Returns true when a new generation
        /// was swapped in; false when the file is unchanged or was refused (logged).
        /// </summary>
        public async Task<bool> ReloadAsync()
        {
            await _reloading.WaitAsync().ConfigureAwait(false);
            try
            {
                if (_disposed)
                    return false;
                var old = Current;
                var next = LoadReplacement(old);
                if (next == null)
                    return false;
                next.Served = true;
                Volatile.Write(ref _current, next);
                _log.LogInformation("Reloaded {Path}: generation {Generation} (sha256 {Sha256}) replaces generation " +
                    "{Old}, which is disposed after its requests in flight.", _path, next.Generation,
                    next.Sha256[..12], old.Generation);
                old.Release();
                return true;
            }
            finally
            {
                _reloading.Release();
            }
        }

        // The file's next generation, or null when it is unchanged or refused (damaged, other classes: logged).
        private LoadedModel LoadReplacement(LoadedModel old)
        {
            LoadedModel next;
            try
            {
                next = Load(old.Generation + 1);
            }
            catch (Exception e)
            {
                _log.LogError("Refused the replaced model file {Path}: {Reason} Still serving generation " +
                    "{Generation}.", _path, Reason(e), old.Generation);
                return null;
            }
            if (next.Sha256 == old.Sha256)
            {
                next.Release();
                return null;
            }
            if (!next.ClassNames.SequenceEqual(old.ClassNames))
            {
                _log.LogError("Refused the replaced model file {Path}: its classes [{New}] differ from the " +
                    "served model's [{Old}]. Still serving generation {Generation}.", _path,
                    string.Join(", ", next.ClassNames), string.Join(", ", old.ClassNames), old.Generation);
                next.Release();
                return null;
            }
            return next;
        }

        /// <summary>Stops watching and releases the current generation (disposed once its requests finish).</summary>
        public void Dispose()
        {
            _watcher.Dispose();
            _debounce.Dispose();
            _reloading.Wait();
            try
            {
                if (_disposed)
                    return;
                _disposed = true;
                var current = Interlocked.Exchange(ref _current, null);
                current?.Release();
            }
            finally
            {
                _reloading.Release();
            }
        }

        private void Touched()
        {
            try
            {
                _debounce.Change(Debounce, Timeout.InfiniteTimeSpan);
            }
            catch (ObjectDisposedException)
            {
                // shutting down
            }
        }

        // Each generation has its own MLContext: a reload never shares one with the engines of requests in flight.
        private LoadedModel Load(int generation)
            => LoadedModel.Load(new MLContext(), _path, generation, _createScorer, m =>
            {
                if (m.Served)
                    _log.LogInformation("Disposed model generation {Generation} (its last request finished).",
                        m.Generation);
            });

        // The library's load errors name the damaged stream; the outermost message alone is often "Failed to load".
        private static string Reason(Exception e)
        {
            var messages = Enumerable.Repeat(e, 1).Concat(Inner(e)).Select(x => x.Message.TrimEnd('.'))
                .Distinct().Take(3);
            return string.Join(": ", messages) + ".";
        }

        private static System.Collections.Generic.IEnumerable<Exception> Inner(Exception e)
        {
            for (var x = e.InnerException; x != null; x = x.InnerException)
                yield return x;
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.OnnxRuntime;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// A network exported in memory by <see cref="OnnxExporter"/> (normalised NCHW floats in: the bytes are converted
    /// and normalised here) and run by one ONNX Runtime session: the <see cref="InferenceEngine.OnnxRuntime"/> engine.
    /// Holds a snapshot of the weights at creation. One <see cref="Run"/> at a time (its caller locks).
    /// </summary>
    internal sealed class OnnxRuntimeScorer : IDisposable
    {
        private readonly InferenceSession _session;
        private readonly RunOptions _runOptions;
        private readonly string[] _inputNames;
        private readonly string[] _outputNames;
        private readonly int _side;
        private readonly PixelNormalizer _normalizer;
        private float[] _pixels = Array.Empty<float>();

        private OnnxRuntimeScorer(InferenceSession session, ImagePreprocessing preprocessing, OnnxExportOptions options)
        {
            _session = session;
            _side = preprocessing.ImageSize;
            _normalizer = preprocessing.Normalizer;
            _inputNames = new[] { options.InputName };
            _outputNames = new[] { options.OutputName };
            _runOptions = new RunOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        }

        /// <summary>Whether <paramref name="e"/> says that ONNX Runtime cannot run here (its native library missing or
        /// unloadable, or a graph it refuses): the caller falls back to TorchSharp.</summary>
        internal static bool CannotRun(Exception e)
            => e is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException
                or BadImageFormatException or OnnxRuntimeException;

        /// <summary>
        /// The session options of every session this library opens: <paramref name="threads"/> intra-op threads that
        /// sleep when idle, all graph optimisations, the memory arena on, quiet.
        /// </summary>
        internal static SessionOptions CreateSessionOptions(int threads)
        {
            var options = new SessionOptions
            {
                IntraOpNumThreads = threads,
                InterOpNumThreads = 1,
                ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
                GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
                // Quiet: ONNX Runtime's warnings would reach the user's console.
                LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
                // ONNX Runtime's memory arena stays on, as in the peer's session: without it a serving process's peak
                // (ResNet-18, one prediction, then Transform over 64 JPEGs) was 630-650 MB instead of 770 MB, but a
                // batch of 32 ran at 0.83x of the peer instead of 0.96x (page faults on every run's activations).
                EnableCpuMemArena = true,
            };
            // Idle intra-op threads sleep instead of spinning, so that Transform's image readers (and the rest of the
            // process) get the cores between operators: on 2 cores, under load, Transform went from 0.7-0.9x to 1.0x
            // of the peer's throughput, scoring and latency no slower.
            options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
            return options;
        }

        /// <summary>
        /// A session on the optimised graph in <see cref="OptimizedModelCache"/> at <paramref name="cached"/> when it
        /// is there and matches its checksums (optimisation off: it is done, and no export is needed); null when not.
        /// </summary>
        internal static InferenceSession OpenCached(string cached, int threads)
        {
            if (cached == null || !File.Exists(cached) || !OptimizedModelCache.Verify(cached))
                return null;
            using var options = CreateSessionOptions(threads);
            options.GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL;
            try
            {
                var session = new InferenceSession(cached, options);
                OptimizedModelCache.Touch(cached);
                return session;
            }
            catch (OnnxRuntimeException)
            {
                OptimizedModelCache.Forget(cached); // not loadable: optimised again
                return null;
            }
        }

        /// <summary>
        /// A session on <paramref name="model"/>, optimised now, and its optimised graph written to
        /// <paramref name="cached"/> (its weights to a data file beside it) when that is not null.
        /// </summary>
        internal static InferenceSession OpenOptimized(byte[] model, string cached, int threads)
        {
            using var options = CreateSessionOptions(threads);
            string temporary = cached == null ? null : OptimizedModelCache.TemporaryPath();
            if (temporary == null)
                return new InferenceSession(model, options);
            string dataName = OptimizedModelCache.NewDataName(cached);
            options.OptimizedModelFilePath = temporary;
            options.AddSessionConfigEntry("session.optimized_model_external_initializers_file_name", dataName);
            options.AddSessionConfigEntry("session.optimized_model_external_initializers_min_size_in_bytes", "1024");
            InferenceSession built;
            try
            {
                built = new InferenceSession(model, options);
            }
            catch (OnnxRuntimeException)
            {
                // Writing the graph failed (a full disk): serve without the cache.
                OptimizedModelCache.Forget(temporary);
                OptimizedModelCache.Forget(Path.Combine(OptimizedModelCache.Folder, dataName));
                using var plain = CreateSessionOptions(threads);
                return new InferenceSession(model, plain);
            }
            OptimizedModelCache.Commit(temporary, dataName, cached);
            return built;
        }

        /// <summary>
        /// Loads ONNX Runtime's native library and creates its environment on a thread-pool thread, once per process,
        /// so that a model's first prediction does not wait for them (a cold start on 2 cores: about 40-150 ms).
        /// A process that ends meanwhile waits for it: exiting while the native environment is being created crashed
        /// the process (SIGSEGV) about every other time.
        /// </summary>
        public static void Prepare()
        {
            if (System.Threading.Interlocked.Exchange(ref _prepared, 1) != 0)
                return;
            var preparation = System.Threading.Tasks.Task.Run(() =>
            {
                try
                {
                    _ = OrtEnv.Instance();
                }
                catch (Exception)
                {
                    // Reported, with the fallback to TorchSharp, when a session is created.
                }
            });
            AppDomain.CurrentDomain.ProcessExit += (_, _) => preparation.Wait(TimeSpan.FromSeconds(30));
        }

        private static int _prepared;

        /// <summary>
        /// Exports <paramref name="weights"/> (a live network's or a saved model's; class probabilities, or the pooled
        /// features after <paramref name="featureStage"/>) and opens a session on it with <paramref name="threads"/>
        /// intra-op threads.
        /// </summary>
        public static OnnxRuntimeScorer Create(INamedWeights weights, ImagePreprocessing preprocessing,
            OnnxExportOutput output, ResNetStage featureStage, int threads)
        {
            // Normalised NCHW input: the graph is then the network alone, as PyTorch's export is (the normalisation and
            // the transpose happen while the bytes become floats, in one pass).
            var options = new OnnxExportOptions
            {
                InputLayout = OnnxInputLayout.Nchw, Output = output, FeatureStage = featureStage,
                NormalizedInput = true,
            };
            options.Check();
            threads = Math.Max(1, threads);
            string cached = weights is SavedWeights saved
                ? OptimizedModelCache.PathOf(saved, preprocessing, options) : null;
            var session = OpenCached(cached, threads);
            if (session == null)
            {
                session = OpenOptimized(Export(weights, preprocessing, options), cached, threads);
                // What building the session freed goes back to the system: the serialised model (managed), and ONNX
                // Runtime's parse of it and its unoptimised weights (native, which glibc keeps in its heap otherwise).
                // A serving process (ResNet-18, one prediction, then Transform over 64 JPEGs at batch 32): 235 MB
                // resident after the first prediction instead of 330-340 MB, a peak of 504 MB instead of 590-600 MB.
                GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                NativeHeap.Trim();
            }
            return new OnnxRuntimeScorer(session, preprocessing, options);
        }

        // The serialised graph of the network.
        private static byte[] Export(INamedWeights weights, ImagePreprocessing preprocessing, OnnxExportOptions options)
        {
            var proto = OnnxExporter.CreateModel(weights, preprocessing, options);
            var model = Google.Protobuf.MessageExtensions.ToByteArray(proto);
            // The protobuf copy of a live network's weights is garbage now: give it back before ONNX Runtime makes its
            // own copies. A serving process's peak after its first prediction: 475 MB instead of 595-620 MB
            // (ResNet-18), once per session. Saved weights are wrapped, not copied.
            if (weights is NetworkWeights)
                GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            return model;
        }

        /// <summary>
        /// The output rows for <paramref name="rgbImages"/> (each <c>S x S x 3</c> RGB bytes), run as one batch. One
        /// call at a time (the caller's lock): the pixel buffer is reused.
        /// </summary>
        public float[][] Run(IReadOnlyList<byte[]> rgbImages)
        {
            int count = rgbImages.Count;
            int imageBytes = _side * _side * 3;
            if (_pixels.Length != (long)count * imageBytes)
                _pixels = new float[(long)count * imageBytes];
            var pixels = _pixels;
            _normalizer.WriteBatch(rgbImages, _side, pixels);
            using var input = OrtValue.CreateTensorValueFromMemory(pixels, new long[] { count, 3, _side, _side });
            using var outputs = _session.Run(_runOptions, _inputNames, new[] { input }, _outputNames);
            var values = outputs[0].GetTensorDataAsSpan<float>();
            int width = values.Length / count;
            var rows = new float[count][];
            for (int i = 0; i < count; i++)
                rows[i] = values.Slice(i * width, width).ToArray();
            return rows;
        }

        public void Dispose()
        {
            _session.Dispose();
            _runOptions.Dispose();
        }
    }
}

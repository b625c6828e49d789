// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing.Benchmarks
{
    /// <summary>Our side of the throughput and inference measurements (a worker process; see
    /// <see cref="CommandLoop"/>).</summary>
    internal sealed class OursWorker
    {
        private const int Batch = 32;
        private readonly PretrainedWeights _weights;
        private readonly Dictionary<string, (ResNet Model, FineTuner Tuner, TensorImageSource Source)> _training =
            new();
        private readonly Dictionary<string, Func<Tensor, Tensor>> _inference = new();
        private ResNet _network;
        private Tensor _images;
        private MLContext _ml;
        private FrozenResNetTransformer _transformer;
        private FrozenResNetTransformer _torchTransformer;
        private List<ImageRow> _photos;
        private FoldedResNet _sequentialFold;
        private List<byte[]> _decoded;

        public OursWorker(string weightsPath)
        {
            set_num_threads(2);
            _weights = PretrainedWeights.FromPyTorch(weightsPath);
        }

        public object Handle(string[] words) => words[0] switch
        {
            "info" => new { torchsharp = typeof(TorchSharp.torch).Assembly.GetName().Version?.ToString(),
                libtorch = __version__, threads = get_num_threads() },
            "train" => Train(words[1], int.Parse(words[2])),
            "infer" => Infer(words[1], int.Parse(words[2])),
            "transform" => Transform(words[1], int.Parse(words[2])),
            "score" => Score(words[1], int.Parse(words[2])),
            "latency" => Latency(words[1], int.Parse(words[2])),
            "save" => Save(words[1]),
            "sgemm" => Sgemm(),
            _ => throw new ArgumentException($"unknown command {words[0]}"),
        };

        private object Train(string @case, int steps)
        {
            if (!_training.TryGetValue(@case, out var run))
            {
                var model = _weights.CreateNetwork(_weights.Definition.NumClasses, seed: 0, keepHead: true);
                var options = new FineTuneOptions
                {
                    Epochs = 1, BatchSize = Batch, LearningRate = 0.001, Momentum = 0.9, WeightDecay = 0,
                    ThawWarmupFraction = 0,
                    Freeze = @case switch
                    {
                        "full" => FreezeMask.None,
                        "layer4" => FreezeMask.UpTo(ResNetStage.Layer3),
                        "head" => FreezeMask.AllButHead,
                        _ => throw new ArgumentException($"unknown case {@case}"),
                    },
                    BatchNorm = BatchNormPolicy.Frozen,
                    UseActivationCache = false, // a throughput test: every step runs the frozen prefix
                };
                var generator = new Generator(1);
                var images = randn(new long[] { Batch * steps, 3, 224, 224 }, generator: generator);
                var labels = randint(_weights.Definition.NumClasses, new long[] { Batch * steps },
                    generator: generator);
                run = (model, new FineTuner(model, options), new TensorImageSource(images, labels));
                _training[@case] = run;
                run.Tuner.Fit(run.Source); // warm-up
            }
            var clock = Stopwatch.StartNew();
            run.Tuner.Fit(run.Source);
            return new { img_s = run.Source.Count / clock.Elapsed.TotalSeconds };
        }

        private object Infer(string variant, int batches)
        {
            if (!_inference.TryGetValue(variant, out var forward))
            {
                _network ??= _weights.CreateNetwork(_weights.Definition.NumClasses, seed: 0, keepHead: true);
                _network.eval();
                _images ??= randn(new long[] { Batch, 3, 224, 224 }, generator: new Generator(1));
                switch (variant)
                {
                    case "module":
                        forward = x => _network.call(x);
                        break;
                    case "folded":
                        var folded = _network.Fold();
                        forward = folded.Forward;
                        break;
                    case "bf16":
                        var bf16 = _network.Fold(precision: InferencePrecision.BFloat16);
                        forward = bf16.Forward;
                        break;
                    default:
                        throw new ArgumentException($"unknown variant {variant}");
                }
                _inference[variant] = forward;
                using (no_grad())
                using (forward(_images)) { } // warm-up
            }
            var clock = Stopwatch.StartNew();
            using (no_grad())
            {
                for (int i = 0; i < batches; i++)
                    using (forward(_images)) { }
            }
            return new { img_s = batches * Batch / clock.Elapsed.TotalSeconds };
        }

        /// <summary>
        /// ML.NET scoring of encoded JPEGs: "transform" is our Transform (batched, folded, images decoded by reader
        /// threads ahead of the network); "sequential" decodes a batch, then scores it, in turn (what Transform did
        /// before).
        /// </summary>
        private object Transform(string variant, int count)
        {
            EnsureFitted(count);
            var clock = Stopwatch.StartNew();
            RunTransform(variant, count);
            return new { img_s = count / clock.Elapsed.TotalSeconds };
        }

        /// <summary>
        /// The fitted transformer (ONNX Runtime engine) and a copy of it loaded from its zip that scores with
        /// TorchSharp: each engine keeps its own session or fold, so that switching between samples rebuilds nothing.
        /// </summary>
        private void EnsureFitted(int count = 64)
        {
            if (_transformer == null)
            {
                _ml = new MLContext(seed: 1);
                _photos = Data.Photos(Math.Max(count, 64));
                // A fitted transformer over the same ResNet-18 weights: one short epoch on 32 images.
                var fitData = _ml.Data.LoadFromEnumerable(_photos.Take(32));
                var keyed = _ml.Transforms.Conversion.MapValueToKey("Label").Fit(fitData).Transform(fitData);
                _transformer = _ml.MulticlassClassification.Trainers.FrozenResNet(new FrozenResNetTrainer.Options
                {
                    FeatureColumnName = "ImageSource", ImageSize = 224, Epochs = 1, PretrainedWeights = _weights,
                    NumberOfThreads = 2, Seed = 1,
                    ValidationFraction = 0,
                }).Fit(keyed);
                var copy = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"bench-{Environment.ProcessId}.zip");
                _ml.Model.Save(_transformer, fitData.Schema, copy);
                var loaded = _ml.Model.Load(copy, out _);
                _torchTransformer = loaded as FrozenResNetTransformer
                    ?? ((IEnumerable<ITransformer>)loaded).OfType<FrozenResNetTransformer>().Single();
                System.IO.File.Delete(copy);
                _torchTransformer.Engine = InferenceEngine.TorchSharp;
                RunTransform("transform", 32); // warm-up
                RunTransform("transform-torchsharp", 32);
                RunTransform("sequential", 32);
            }
        }

        private FrozenResNetTransformer For(string engine) => engine switch
        {
            "onnxruntime" => _transformer,
            "torchsharp" => _torchTransformer,
            _ => throw new ArgumentException($"unknown engine {engine}"),
        };

        /// <summary>
        /// <see cref="FrozenResNetModel.Score"/> on 32 decoded photos per batch (the library's scoring path without
        /// ML.NET's cursors) with the given engine ("onnxruntime", "torchsharp").
        /// </summary>
        private object Score(string engine, int batches)
        {
            EnsureFitted();
            var model = For(engine).Model;
            _decoded ??= _photos.Take(Batch).Select(r => model.Preprocessing.DecodeAndResize(r.ImageSource)).ToList();
            model.Score(_decoded); // warm-up
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < batches; i++)
                model.Score(_decoded);
            return new { img_s = batches * Batch / clock.Elapsed.TotalSeconds };
        }

        /// <summary>
        /// A <c>PredictionEngine</c> on one encoded JPEG at a time (decoding included, as a web server runs it): the
        /// median milliseconds per prediction and the median of decoding alone.
        /// </summary>
        private object Latency(string engine, int count)
        {
            EnsureFitted();
            var transformer = For(engine);
            {
                var predictor = _ml.Model.CreatePredictionEngine<ImageRow, Prediction>(transformer,
                    new PredictionEngineOptions { OwnsTransformer = false });
                predictor.Predict(_photos[0]); // warm-up
                var times = new List<double>();
                var decode = new List<double>();
                for (int i = 0; i < count; i++)
                {
                    var row = _photos[i % _photos.Count];
                    var clock = Stopwatch.StartNew();
                    predictor.Predict(row);
                    times.Add(clock.Elapsed.TotalMilliseconds);
                    clock.Restart();
                    transformer.Preprocessing.DecodeAndResize(row.ImageSource);
                    decode.Add(clock.Elapsed.TotalMilliseconds);
                }
                return new { ms = Stats.Median(times), decode_ms = Stats.Median(decode) };
            }
        }

        /// <summary>Saves the fitted ResNet-18 transformer (for the cold-start runs); its size and its
        /// weights'.</summary>
        private object Save(string path)
        {
            EnsureFitted();
            var data = _ml.Data.LoadFromEnumerable(_photos.Take(1));
            _ml.Model.Save(_transformer, data.Schema, path);
            long weightBytes = _transformer.Network.parameters().Sum(p => p.numel()) * sizeof(float)
                + _transformer.Network.buffers().Where(b => b.dtype == ScalarType.Float32).Sum(b => b.numel())
                * sizeof(float);
            return new { zip_bytes = new System.IO.FileInfo(path).Length, weight_bytes = weightBytes };
        }

        private void RunTransform(string variant, int count)
        {
            var rows = _photos.Take(count).ToList();
            var transformer = variant == "transform-torchsharp" ? _torchTransformer : _transformer;
            if (variant == "sequential")
            {
                // What a cursor did before the prefetch: decode a batch on the calling thread, then run the network on
                // it (folded once, as a cursor does now).
                var model = _transformer.Model;
                _sequentialFold ??= model.Network.Fold();
                foreach (var chunk in rows.Chunk(Batch))
                {
                    var pixels = chunk.SelectMany(r => model.Preprocessing.DecodeAndResize(r.ImageSource)).ToArray();
                    using var scope = NewDisposeScope();
                    using var noGrad = no_grad();
                    var images = model.Preprocessing.Normalize(
                        tensor(pixels, new long[] { chunk.Length, 224, 224, 3 }));
                    _ = nn.functional.softmax(_sequentialFold.Forward(images), 1).data<float>().ToArray();
                }
                return;
            }
            var scored = transformer.Transform(_ml.Data.LoadFromEnumerable(rows));
            using var cursor = scored.GetRowCursor(new[] { scored.Schema["Score"] });
            var getter = cursor.GetGetter<VBuffer<float>>(scored.Schema["Score"]);
            VBuffer<float> score = default;
            while (cursor.MoveNext())
                getter(ref score);
        }

        /// <summary>Matrix-multiply rate (GFLOP/s, fp32, 2 threads): what the arithmetic of this CPU gives
        /// libtorch.</summary>
        private static object Sgemm() => new { gflops = SgemmRate() };

        /// <summary>The best of five 2048x2048 fp32 matrix products, in GFLOP/s (2 threads).</summary>
        public static double SgemmRate()
        {
            const int n = 2048;
            using var a = randn(n, n);
            using var b = randn(n, n);
            using (a.matmul(b)) { }
            var rates = new List<double>();
            for (int i = 0; i < 5; i++)
            {
                var clock = Stopwatch.StartNew();
                using (a.matmul(b)) { }
                rates.Add(2.0 * n * n * n / clock.Elapsed.TotalSeconds / 1e9);
            }
            return rates.Max();
        }
    }

    /// <summary>What a <c>PredictionEngine</c> writes.</summary>
    internal sealed class Prediction
    {
        public float[] Score { get; set; }
    }

    /// <summary>The ONNX Runtime side of the inference measurement.</summary>
    internal sealed class OrtWorker
    {
        private readonly Microsoft.ML.OnnxRuntime.InferenceSession _session;
        private readonly Microsoft.ML.OnnxRuntime.NamedOnnxValue[] _inputs;

        public OrtWorker(string onnxPath)
        {
            var options = new Microsoft.ML.OnnxRuntime.SessionOptions
            {
                IntraOpNumThreads = 2, InterOpNumThreads = 1,
                GraphOptimizationLevel = Microsoft.ML.OnnxRuntime.GraphOptimizationLevel.ORT_ENABLE_ALL,
                ExecutionMode = Microsoft.ML.OnnxRuntime.ExecutionMode.ORT_SEQUENTIAL,
            };
            // The session options of our engine (Export/OnnxRuntimeScorer.cs): idle threads do not spin.
            options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
            _session = new Microsoft.ML.OnnxRuntime.InferenceSession(onnxPath, options);
            // Random pixels: normalised values for PyTorch's export; 0-255 values for ours (it normalises inside).
            bool rawPixels = _session.InputMetadata.Keys.First() == new OnnxExportOptions().InputName;
            var random = new Random(1);
            var data = new float[32 * 3 * 224 * 224];
            for (int i = 0; i < data.Length; i++) data[i] = rawPixels ? random.Next(256)
                : (float)(random.NextDouble() * 2 - 1);
            var input = new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>(data, new[] { 32, 3, 224, 224 });
            _inputs = new[]
            {
                Microsoft.ML.OnnxRuntime.NamedOnnxValue.CreateFromTensor(_session.InputMetadata.Keys.First(), input),
            };
            using (_session.Run(_inputs)) { } // warm-up
        }

        public object Handle(string[] words) => words[0] switch
        {
            "info" => new
            {
                onnxruntime = typeof(Microsoft.ML.OnnxRuntime.InferenceSession).Assembly.GetName().Version?.ToString(),
            },
            "infer" => Infer(int.Parse(words[1])),
            "latency" => Latency(int.Parse(words[1])),
            _ => throw new ArgumentException($"unknown command {words[0]}"),
        };

        private object Infer(int batches)
        {
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < batches; i++)
                using (_session.Run(_inputs)) { }
            return new { img_s = batches * 32 / clock.Elapsed.TotalSeconds };
        }

        /// <summary>One image at a time (batch 1): the median milliseconds per run.</summary>
        private object Latency(int count)
        {
            var full = (Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>)_inputs[0].Value;
            var one = new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>(
                full.Buffer.Slice(0, 3 * 224 * 224), new[] { 1, 3, 224, 224 });
            var inputs = new[]
            {
                Microsoft.ML.OnnxRuntime.NamedOnnxValue.CreateFromTensor(_inputs[0].Name, one),
            };
            using (_session.Run(inputs)) { } // warm-up
            var times = new List<double>();
            for (int i = 0; i < count; i++)
            {
                var clock = Stopwatch.StartNew();
                using (_session.Run(inputs)) { }
                times.Add(clock.Elapsed.TotalMilliseconds);
            }
            return new { ms = Stats.Median(times) };
        }
    }
}

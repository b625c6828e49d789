// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing.Benchmarks
{
    /// <summary>
    /// The seed's recipe: ML.NET's pretrained ResNet-18, 224 px, epoch 0 trains the head, epoch 1 thaws layer4, epoch 2
    /// thaws layer3; batch 32, SGD with momentum 0.9, one rate (0.01) for every stage, no weight decay, no warm-up,
    /// frozen BatchNorm in eval, fp32. Ours runs it end to end from encoded images through the ML.NET trainer; the peer
    /// (eng/bench_pytorch.py recipe) runs it by hand on the same pixels, pre-decoded, from the same initial weights.
    /// </summary>
    internal static class Recipe
    {
        public const int Epochs = 3, BatchSize = 32, Seed = 1, ImageSize = 224;
        public const double LearningRate = 0.01, Momentum = 0.9;

        public sealed class Spec
        {
            public int train_count { get; set; }
            public int test_count { get; set; }
            public int image_size { get; set; }
            public int classes { get; set; }
            public int[] depths { get; set; }
            public bool bgr { get; set; }
            public float scale { get; set; }
            public float[] mean { get; set; }
            public float[] std { get; set; }
            public int epochs { get; set; }
            public int batch { get; set; }
            public double lr { get; set; }
            public double momentum { get; set; }
            public int seed { get; set; }
            public string data { get; set; }
            public string weights { get; set; }
        }

        /// <summary>Writes what the peer needs: the decoded pixels (by our decoder), labels, initial weights, the
        /// spec.</summary>
        public static Spec Prepare(string folder, int train, int test)
        {
            Directory.CreateDirectory(folder);
            var weights = PretrainedWeights.MLNetResNet18();
            var (classes, trainRows, testRows) = Data.RecipeSplit(train, test);
            var preprocessing = weights.Preprocessing.WithImageSize(ImageSize);
            WritePixels(Path.Combine(folder, "train"), trainRows, classes, preprocessing);
            WritePixels(Path.Combine(folder, "test"), testRows, classes, preprocessing);
            using (var network = weights.CreateNetwork(classes.Length, Seed))
                SafeTensors.Write(Path.Combine(folder, "init.safetensors"), network);
            // The order our trainer visits the examples in (FineTuner: one generator seeded with the seed, reshuffled
            // every epoch), so that both sides take the same steps and their accuracies differ only by arithmetic.
            var shuffle = new Random(Seed);
            using (var order = new BinaryWriter(File.Create(Path.Combine(folder, "order.i64"))))
                for (int epoch = 0; epoch < Epochs; epoch++)
                    foreach (var batch in ImageBatchSources.BatchIndices(trainRows.Count, BatchSize, shuffle))
                        foreach (int i in batch)
                            order.Write((long)i);
            var spec = new Spec
            {
                train_count = trainRows.Count, test_count = testRows.Count, image_size = ImageSize,
                classes = classes.Length,
                depths = weights.Definition.Depths, bgr = preprocessing.Channels == ChannelOrder.Bgr,
                scale = preprocessing.Scale,
                mean = preprocessing.Mean, std = preprocessing.Std, epochs = Epochs, batch = BatchSize,
                lr = LearningRate,
                momentum = Momentum, seed = Seed, data = Data.Source, weights = weights.Description,
            };
            File.WriteAllText(Path.Combine(folder, "recipe.json"), JsonSerializer.Serialize(spec));
            return spec;
        }

        private static void WritePixels(string stem, List<ImageRow> rows, string[] classes,
            ImagePreprocessing preprocessing)
        {
            using (var pixels = File.Create(stem + ".u8"))
                foreach (var row in rows)
                    pixels.Write(preprocessing.DecodeAndResize(row.ImageSource));
            using var labels = new BinaryWriter(File.Create(stem + ".labels"));
            foreach (var row in rows)
                labels.Write((long)Array.IndexOf(classes, row.Label));
        }

        public static Spec ReadSpec(string folder)
            => JsonSerializer.Deserialize<Spec>(File.ReadAllText(Path.Combine(folder, "recipe.json")));

        /// <summary>Our side, in its own process: trains, evaluates, writes a JSON result.</summary>
        public static void RunOurs(string folder, string output, bool bf16Prefix)
        {
            var spec = ReadSpec(folder);
            // converted and cached by Prepare: loading is not the recipe
            var weights = PretrainedWeights.MLNetResNet18();
            var (classes, trainRows, testRows) = Data.RecipeSplit(spec.train_count, spec.test_count);
            var ml = new MLContext(seed: Seed);
            var train = ml.Data.LoadFromEnumerable(trainRows);
            var test = ml.Data.LoadFromEnumerable(testRows);
            var log = new List<string>();
            var options = new FrozenResNetTrainer.Options
            {
                FeatureColumnName = "ImageSource", ImageSize = ImageSize, PretrainedWeights = weights,
                Epochs = Epochs, BatchSize = BatchSize, LearningRate = LearningRate, Momentum = Momentum,
                WeightDecay = 0,
                ThawWarmupFraction = 0, LayerLearningRateDecay = 1, Freeze = FreezeMask.AllButHead,
                Unfreezing = UnfreezeSchedule.Gradual(1, 1),
                BatchNorm = BatchNormPolicy.Frozen, Seed = Seed, NumberOfThreads = 2, ValidationFraction = 0,
                FrozenPrefixPrecision = bf16Prefix ? InferencePrecision.BFloat16 : InferencePrecision.Float32,
            };
            var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
                .Append(ml.MulticlassClassification.Trainers.FrozenResNet(options));

            double sgemm = OursWorker.SgemmRate(); // what the CPU gives right now (other processes share it)
            var clock = Stopwatch.StartNew();
            var model = pipeline.Fit(train); // decoding, caching, training: end to end
            double trainSeconds = clock.Elapsed.TotalSeconds;

            clock.Restart();
            var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
            double testSeconds = clock.Elapsed.TotalSeconds;
            var trained = model.LastTransformer;
            var history = trained.History.Select(e => e.Record).Select(h => new
            {
                epoch = h.Epoch, seconds = h.Duration.TotalSeconds, loss = h.TrainLoss, img_s = h.ImagesPerSecond,
                cached = h.CachedBoundary?.Name(),
            }).ToArray();

            // The bfloat16 effect, measured on the trained network: the test set scored through a bf16 fold vs fp32.
            var pixels = testRows.Select(r => trained.Model.Preprocessing.DecodeAndResize(r.ImageSource)).ToList();
            var labels = testRows.Select(r => Array.IndexOf(classes, r.Label)).ToArray();
            var (fp32Predictions, fp32Seconds) = Predict(trained.Model, pixels, InferencePrecision.Float32);
            var (bf16Predictions, bf16Seconds) = Predict(trained.Model, pixels, InferencePrecision.BFloat16);

            var result = new
            {
                train_seconds = trainSeconds,
                accuracy = metrics.MicroAccuracy,
                test_seconds = testSeconds,
                epochs = history,
                accuracy_fp32_fold = fp32Predictions.Zip(labels, (p, l) => p == l ? 1.0 : 0).Average(),
                accuracy_bf16_fold = bf16Predictions.Zip(labels, (p, l) => p == l ? 1.0 : 0).Average(),
                bf16_agreement = fp32Predictions.Zip(bf16Predictions, (a, b) => a == b ? 1.0 : 0).Average(),
                fp32_fold_img_s = pixels.Count / fp32Seconds,
                bf16_fold_img_s = pixels.Count / bf16Seconds,
                vmhwm_kb = Memory.PeakKilobytes(),
                sgemm_gflops = sgemm,
            };
            File.WriteAllText(output, JsonSerializer.Serialize(result));
        }

        private static (int[] Predictions, double Seconds) Predict(FrozenResNetModel model, List<byte[]> pixels,
            InferencePrecision precision)
        {
            using var folded = model.Network.Fold(precision: precision);
            var predictions = new List<int>();
            var clock = Stopwatch.StartNew();
            foreach (var chunk in pixels.Chunk(BatchSize))
            {
                using var scope = NewDisposeScope();
                var flat = chunk.SelectMany(p => p).ToArray();
                var images = model.Preprocessing.Normalize(
                    tensor(flat, new long[] { chunk.Length, ImageSize, ImageSize, 3 }));
                predictions.AddRange(folded.Forward(images).argmax(1).data<long>().ToArray().Select(v => (int)v));
            }
            return (predictions.ToArray(), clock.Elapsed.TotalSeconds);
        }

        /// <summary>
        /// Multiply-accumulates of each stage's forward pass at <paramref name="size"/> px (convolutions and fc;
        /// BatchNorm, ReLU and pooling are memory traffic, not arithmetic). Basic blocks.
        /// </summary>
        public static Dictionary<ResNetStage, double> ForwardMacs(int[] depths, int classes, int size)
        {
            var macs = new Dictionary<ResNetStage, double>();
            double side = size / 2.0; // conv1, stride 2
            macs[ResNetStage.Stem] = side * side * 64 * 3 * 49;
            side /= 2; // max pooling
            long inChannels = 64;
            for (int layer = 1; layer <= 4; layer++)
            {
                long width = 64L << (layer - 1);
                if (layer > 1) side /= 2;
                double sum = 0;
                for (int block = 0; block < depths[layer - 1]; block++)
                {
                    long cin = block == 0 ? inChannels : width;
                    sum += side * side * width * cin * 9 + side * side * width * width * 9;
                    if (block == 0 && (layer > 1 || cin != width))
                        sum += side * side * width * cin;
                }
                macs[(ResNetStage)layer] = sum;
                inChannels = width;
            }
            macs[ResNetStage.Head] = 512.0 * classes;
            return macs;
        }
    }

    /// <summary>Writes a network's state dict as safetensors (float32 and int64), which the peer reads.</summary>
    internal static class SafeTensors
    {
        public static void Write(string path, nn.Module module)
        {
            var entries = new List<(string Name, string DType, long[] Shape, byte[] Bytes)>();
            foreach (var (name, t) in module.state_dict())
            {
                using var cpu = t.detach().cpu().contiguous();
                byte[] bytes = cpu.dtype switch
                {
                    ScalarType.Float32 => System.Runtime.InteropServices.MemoryMarshal.AsBytes(
                        cpu.data<float>().ToArray().AsSpan()).ToArray(),
                    ScalarType.Int64 => System.Runtime.InteropServices.MemoryMarshal.AsBytes(
                        cpu.data<long>().ToArray().AsSpan()).ToArray(),
                    _ => throw new NotSupportedException($"{name}: {cpu.dtype}"),
                };
                entries.Add((name, cpu.dtype == ScalarType.Float32 ? "F32" : "I64", cpu.shape, bytes));
            }
            var header = new Dictionary<string, object>();
            long offset = 0;
            foreach (var e in entries)
            {
                header[e.Name] = new { dtype = e.DType, shape = e.Shape,
                    data_offsets = new[] { offset, offset + e.Bytes.Length } };
                offset += e.Bytes.Length;
            }
            var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
            int pad = (8 - json.Length % 8) % 8;
            using var writer = new BinaryWriter(File.Create(path));
            writer.Write((ulong)(json.Length + pad));
            writer.Write(json);
            for (int i = 0; i < pad; i++) writer.Write((byte)' ');
            foreach (var e in entries) writer.Write(e.Bytes);
        }
    }
}

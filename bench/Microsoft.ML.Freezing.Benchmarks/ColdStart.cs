// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Microsoft.ML.Freezing.Benchmarks
{
    /// <summary>
    /// What a Model Builder style app does, in a fresh process: an <see cref="MLContext"/>, <c>Model.Load</c> of a
    /// saved ResNet-18 zip, <c>CreatePredictionEngine</c>, one <c>Predict</c>; the time from process start to each
    /// step. Then it scores a few batches with <c>Transform</c>, so that the process's peak memory is that of serving.
    /// Prints one JSON line.
    /// </summary>
    internal static class ColdStart
    {
        public static void Run(string zipPath, string imagePath, int transformImages)
        {
            double Since() => (DateTime.Now - Process.GetCurrentProcess().StartTime).TotalMilliseconds;
            double main = Since();
            if (Environment.GetEnvironmentVariable("BENCH_COLD_PHASES") == "1")
            {
                // Diagnostics: where Model.Load's time goes (libtorch's loading alone, then a network's construction).
                TorchSharp.torch.get_num_threads();
                Console.Error.WriteLine($"libtorch loaded at {Since():F0} ms, peak {Memory.PeakKilobytes() / 1024} MB");
                using (new ResNet(ResNetDefinition.ResNet18(2), seed: 0)) { }
                Console.Error.WriteLine(
                    $"a ResNet-18 built at {Since():F0} ms, peak {Memory.PeakKilobytes() / 1024} MB");
            }
            var ml = new MLContext(seed: 1);
            var model = ml.Model.Load(zipPath, out _);
            double loaded = Since();
            long loadedKb = Memory.PeakKilobytes();
            var engine = ml.Model.CreatePredictionEngine<ImageRow, Prediction>(model);
            double created = Since();
            var row = new ImageRow { ImageSource = File.ReadAllBytes(imagePath) };
            var prediction = engine.Predict(row);
            double predicted = Since();
            // CPU time (all threads) to the first prediction: what the wall time would be on an idle machine, give or
            // take the threads that overlap, and far less moved by other processes than the wall time.
            double predictedCpu = Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds;
            if (prediction.Score is null || prediction.Score.Length == 0)
                throw new InvalidOperationException("no score");
            var second = Stopwatch.StartNew();
            engine.Predict(row);
            double secondMs = second.Elapsed.TotalMilliseconds;
            long afterPredict = Memory.PeakKilobytes();

            if (transformImages > 0)
            {
                var rows = Enumerable.Range(0, transformImages).Select(_ => row).ToList();
                var scored = model.Transform(ml.Data.LoadFromEnumerable(rows));
                using var cursor = scored.GetRowCursor(new[] { scored.Schema["Score"] });
                var getter = cursor.GetGetter<VBuffer<float>>(scored.Schema["Score"]);
                VBuffer<float> score = default;
                while (cursor.MoveNext())
                    getter(ref score);
            }
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                main_ms = main, loaded_ms = loaded, engine_ms = created, first_prediction_ms = predicted,
                second_prediction_ms = secondMs, first_prediction_cpu_ms = predictedCpu,
                vmhwm_predict_kb = afterPredict, vmhwm_loaded_kb = loadedKb,
                vmhwm_kb = Memory.PeakKilobytes(),
            }));
            (model as IDisposable)?.Dispose();
        }
    }
}

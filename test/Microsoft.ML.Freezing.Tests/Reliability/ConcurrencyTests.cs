// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using Microsoft.ML;
using Microsoft.ML.Freezing.Tests.MLNet;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests.Reliability
{
    /// <summary>One loaded model serves many threads, each with its own PredictionEngine.</summary>
    [TestClass]
    public sealed class ConcurrencyTests
    {
        private const int Threads = 8;
        private const int PredictionsPerThread = 2000;

        [TestMethod]
        public void EightThreadsWithTheirOwnEnginesGiveTheSingleThreadedResults()
        {
            using var oneThread = TinyModel.OneThread();
            var ml = new MLContext(seed: 1);
            var model = ml.Model.Load(TinyModel.Zip, out _);
            try
            {
                var inputs = GeneratedImages.Stripes(16, seed: 9);
                float[][] expected;
                using (var engine = TinyModel.Engine(ml, model))
                    expected = inputs.Select(i => engine.Predict(i).Score.ToArray()).ToArray();
                Assert.IsGreaterThan(1, expected.Select(s => s[0]).Distinct().Count(),
                    "the inputs should score differently");

                var errors = new ConcurrentQueue<string>();
                int predictions = 0;
                var clock = Stopwatch.StartNew();
                var threads = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
                {
                    try
                    {
                        using var engine = TinyModel.Engine(ml, model);
                        for (int k = 0; k < PredictionsPerThread; k++)
                        {
                            int i = (k * 7 + t * 3) % inputs.Count;
                            var score = engine.Predict(inputs[i]).Score;
                            if (!score.AsSpan().SequenceEqual(expected[i]))
                                errors.Enqueue(
                                    $"thread {t}, prediction {k}, input {i}: [{string.Join(", ", score)}] instead of " +
                                    $"[{string.Join(", ", expected[i])}]");
                            Interlocked.Increment(ref predictions);
                        }
                    }
                    catch (Exception ex)
                    {
                        errors.Enqueue($"thread {t}: {ex}");
                    }
                })).ToList();
                threads.ForEach(t => t.Start());
                threads.ForEach(t => t.Join());
                Console.WriteLine(
                    $"{predictions} predictions on {Threads} threads in {clock.Elapsed.TotalSeconds:F1} s");
                Assert.IsEmpty(errors, string.Join("\n", errors.Take(10)));
                Assert.AreEqual(Threads * PredictionsPerThread, predictions);
            }
            finally
            {
                (model as IDisposable)?.Dispose();
            }
        }
    }
}

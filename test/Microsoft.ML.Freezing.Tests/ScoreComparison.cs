// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests
{
    /// <summary>
    /// Comparisons whose tolerance comes from the scale of what they compare, so they hold on any CPU's kernels: class
    /// probabilities are compared as logits (log-probabilities centred per row) relative to the logits' range, never
    /// as probabilities with a fixed delta; weights relative to the tensor's largest value.
    /// </summary>
    internal static class ScoreComparison
    {
        /// <summary>The default bound: 1e-4 of the range (float32 rounding through a ResNet is about 1e-6).</summary>
        public const double Relative = 1e-4;

        /// <summary>
        /// The largest logit difference between two rows of class probabilities over the rows' logit range (at least
        /// 1). Probabilities below 1e-12 count as 1e-12: float32 softmax cannot tell them apart.
        /// </summary>
        public static double LogitDifference(IReadOnlyList<float[]> expected, IReadOnlyList<float[]> actual)
        {
            Assert.AreEqual(expected.Count, actual.Count, "rows");
            double difference = 0, range = 1;
            for (int i = 0; i < expected.Count; i++)
            {
                Assert.AreEqual(expected[i].Length, actual[i].Length, $"row {i}: classes");
                var e = Logits(expected[i]);
                var a = Logits(actual[i]);
                range = Math.Max(range, e.Max() - e.Min());
                difference = Math.Max(difference, e.Zip(a, (x, y) => Math.Abs(x - y)).Max());
            }
            return difference / range;
        }

        /// <summary>Asserts <see cref="LogitDifference"/> is at most <paramref name="relative"/>; returns it.</summary>
        public static double AssertSameScores(IReadOnlyList<float[]> expected, IReadOnlyList<float[]> actual,
            string what,
            double relative = Relative)
        {
            double difference = LogitDifference(expected, actual);
            Console.WriteLine($"{what}: logits differ by {difference:G3} of their range");
            Assert.IsTrue(difference <= relative,
                $"{what}: logits differ by {difference:G3} of their range (> {relative:G3})");
            return difference;
        }

        /// <summary>max |a − b| over max |a| (at least 1e-3, for tensors that are all but zero).</summary>
        public static double RelativeDifference(TorchSharp.torch.Tensor expected, TorchSharp.torch.Tensor actual)
        {
            using var scope = TorchSharp.torch.NewDisposeScope();
            double range = Math.Max(expected.abs().max().item<float>(), 1e-3);
            return (expected - actual).abs().max().item<float>() / range;
        }

        private static double[] Logits(float[] probabilities)
        {
            var log = probabilities.Select(p => Math.Log(Math.Max(p, 1e-12))).ToArray();
            double mean = log.Average();
            return log.Select(l => l - mean).ToArray();
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Diagnostics;
using System.Threading;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing.Tests.Backbone
{
    /// <summary>
    /// The residual sums and the input normalisation pass a Scalar that no collection can free during the native call
    /// (see <c>Scalars</c>). Here a thread collects garbage and runs finalizers without pause while the same calls run.
    /// </summary>
    [TestClass]
    public sealed class ScalarLifetimeTests
    {
        private static long Hammer(Action call, TimeSpan duration)
        {
            bool stop = false;
            var collector = new Thread(() =>
            {
                while (!Volatile.Read(ref stop))
                {
                    GC.Collect();
                    GC.WaitForPendingFinalizers();
                }
            });
            collector.Start();
            long calls = 0;
            try
            {
                var clock = Stopwatch.StartNew();
                while (clock.Elapsed < duration)
                {
                    call();
                    calls++;
                }
            }
            finally
            {
                Volatile.Write(ref stop, true);
                collector.Join();
            }
            return calls;
        }

        // Without the static Scalar (a.clone().add_(b)), this failed within a second on a 2-core AMD EPYC Zen 4 VM:
        // "Expected false to be true" from libtorch reading a freed Scalar.
        [TestMethod]
        public void ResidualSumsSurviveCollectionsDuringTheNativeCall()
        {
            using var a = zeros(4, 4);
            using var b = ones(4, 4);
            long calls = Hammer(() =>
            {
                using var scope = NewDisposeScope();
                Assert.AreEqual(16f, a.clone().AddInPlace(b).sum().item<float>());
            }, TimeSpan.FromSeconds(3));
            Assert.IsTrue(calls > 1000, $"only {calls} calls in 3 s");
        }

        [TestMethod]
        public void NormalizeSurvivesCollectionsDuringTheNativeCall()
        {
            var preprocessing = ImagePreprocessing.ImageNet(8);
            using var bytes = full(new long[] { 1, 8, 8, 3 }, (byte)128, ScalarType.Byte);
            using var expected = preprocessing.Normalize(bytes);
            long calls = Hammer(() =>
            {
                using var scope = NewDisposeScope();
                Assert.IsTrue(preprocessing.Normalize(bytes).allclose(expected, 0, 0));
            }, TimeSpan.FromSeconds(3));
            Assert.IsTrue(calls > 1000, $"only {calls} calls in 3 s");
        }
    }
}

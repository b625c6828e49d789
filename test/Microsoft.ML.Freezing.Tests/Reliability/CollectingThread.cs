// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Diagnostics;
using System.Threading;

namespace Microsoft.ML.Freezing.Tests.Reliability
{
    /// <summary>
    /// A thread that collects garbage and runs finalizers without pause while calls run: a temporary TorchSharp
    /// Scalar or Tensor that nothing holds during its native call is then freed under libtorch within seconds (an
    /// error, a crash, or a wrong number), where a normal run meets it once in hours.
    /// </summary>
    internal static class CollectingThread
    {
        /// <summary>
        /// Runs <paramref name="call"/> for <paramref name="duration"/>, and on until it ran <paramref name="atLeast"/>
        /// times, under the collecting thread; returns the number of calls. The minimum has no time cap: on a slow
        /// machine a test that needs each of its setups run once under the collector takes longer, it does not skip
        /// one (CI's 2 cores once ran two of three engine setups in 30 s).
        /// </summary>
        public static long Hammer(Action call, TimeSpan duration, long atLeast = 0)
        {
            bool stop = false;
            var collector = new Thread(() =>
            {
                while (!Volatile.Read(ref stop))
                {
                    // The youngest generation, where a call's temporaries live: cheap even when the test run's heap
                    // is large, so the collections keep coming while the calls run.
                    GC.Collect(0);
                    GC.WaitForPendingFinalizers();
                }
            });
            collector.Start();
            long calls = 0;
            try
            {
                var clock = Stopwatch.StartNew();
                while (clock.Elapsed < duration || calls < atLeast)
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
    }
}

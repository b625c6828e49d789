// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).
using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing.Tests.Freezing
{
    /// <summary>
    /// A training run of the tiny test network with everything a thaw-policy test looks at: the weights before and
    /// after every epoch (<c>Snapshots[0]</c> the initial model, <c>Snapshots[k + 1]</c> after epoch k), the history,
    /// the forward counts, the restored epoch and the log.
    /// </summary>
    internal sealed class RecordedRun : IDisposable
    {
        public List<Dictionary<string, Tensor>> Snapshots = new List<Dictionary<string, Tensor>>();
        public IReadOnlyList<EpochRecord> History;
        public Dictionary<string, Tensor> Final;
        public IReadOnlyDictionary<ResNetStage, long> Forwards;
        public int? RestoredEpoch;
        public bool Planned;
        public List<string> Log = new List<string>();

        /// <summary>Trains on 16 random images with <paramref name="options"/> (its callbacks are set here).</summary>
        public static RecordedRun Train(FineTuneOptions options, IImageBatchSource validation)
        {
            var run = new RecordedRun();
            using var model = new ResNet(TestData.TinyDefinition(), seed: 2);
            using var train = TestData.RandomImages(16);
            run.Snapshots.Add(TestData.Snapshot(model));
            options.EpochCallback = _ => run.Snapshots.Add(TestData.Snapshot(model));
            options.Log = run.Log.Add;
            using (var tuner = new FineTuner(model, options))
            {
                run.History = tuner.Fit(train, validation).ToList();
                run.Forwards = tuner.StageForwardCounts.ToDictionary(kv => kv.Key, kv => kv.Value);
                run.RestoredEpoch = tuner.RestoredEpoch;
                run.Planned = tuner.Plan != null;
            }
            run.Final = TestData.Snapshot(model);
            return run;
        }

        public void Dispose()
        {
            Snapshots.ForEach(TestData.Dispose);
            TestData.Dispose(Final);
        }
    }
}

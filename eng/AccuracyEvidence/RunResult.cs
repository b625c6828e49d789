// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using Microsoft.ML.Freezing;

namespace AccuracyEvidence
{
    /// <summary>
    /// One epoch of a run as stored in its JSON file. The validation numbers are the trainer's own, on its hold-out
    /// from the training images (null without one); the test images play no part in training.
    /// </summary>
    public sealed record EpochResult(
        int Epoch, string[] FrozenStages, double? HeadLearningRate, double TrainLoss, double TrainAccuracy,
        double? ValidationLoss, double? ValidationAccuracy, double Seconds, string ThawReason, int? RestoredEpoch,
        string StopReason);

    /// <summary>
    /// The outcome of one (data set, recipe, seed) run: test metrics of the model <c>Fit</c> returned, wall time of
    /// <c>Fit</c>, and the per-epoch history. Stored as
    /// <c>&lt;results&gt;/&lt;data set&gt;/&lt;recipe&gt;/seed&lt;k&gt;.json</c>; a run whose file exists is not
    /// repeated (the script resumes where it stopped).
    /// </summary>
    public sealed record RunResult(
        string DataSet, string Recipe, int Seed, int TrainImages, int TestImages, int ImageSize,
        double MicroAccuracy, double MacroAccuracy, double LogLoss, double FitSeconds, string Settings,
        EpochResult[] Epochs)
    {
        private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

        public static string PathFor(string results, string dataSet, string recipe, int seed)
            => Path.Combine(results, dataSet, recipe, $"seed{seed}.json");

        public static RunResult TryLoad(string path)
            => File.Exists(path) ? JsonSerializer.Deserialize<RunResult>(File.ReadAllText(path), Json) : null;

        /// <summary>Writes through a temporary file, so an interrupted run leaves no result behind.</summary>
        public void Save(string path)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path));
            string temp = path + ".tmp";
            File.WriteAllText(temp, JsonSerializer.Serialize(this, Json));
            File.Move(temp, path, overwrite: true);
        }

        /// <summary>
        /// The epoch whose weights the model kept: the one restored after the last epoch, else the last epoch (a
        /// restore before an epoch that then trained, as Auto's after a thaw that did not pay, is not what the model
        /// kept).
        /// </summary>
        public int KeptEpoch => Epochs.Length == 0 ? -1 : Epochs[^1].RestoredEpoch ?? Epochs.Length - 1;

        public static EpochResult[] FromHistory(IReadOnlyList<EpochRecord> history)
            => history.Select(h => new EpochResult(
                h.Epoch, h.FrozenStages.Select(s => s.ToString()).ToArray(),
                h.StageLearningRates != null && h.StageLearningRates.TryGetValue(ResNetStage.Head, out double head)
                    ? head
                    : null,
                h.TrainLoss, h.TrainAccuracy, h.ValidationLoss, h.ValidationAccuracy, h.Duration.TotalSeconds,
                h.ThawReason, h.RestoredEpoch, h.StopReason)).ToArray();
    }
}

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using Microsoft.ML.Freezing;

namespace AccuracyEvidence
{
    /// <summary>One epoch of a run as stored in its JSON file.</summary>
    public sealed record EpochResult(int Epoch, string[] FrozenStages, double TrainLoss, double TrainAccuracy,
        double? HeldOutLoss, double? HeldOutAccuracy, double Seconds);

    /// <summary>
    /// The outcome of one (data set, recipe, seed) run: held-out metrics of the final model, wall time of <c>Fit</c>, and
    /// the per-epoch history. Stored as <c>&lt;results&gt;/&lt;data set&gt;/&lt;recipe&gt;/seed&lt;k&gt;.json</c>; a run whose
    /// file exists is not repeated (the script resumes where it stopped).
    /// </summary>
    public sealed record RunResult(string DataSet, string Recipe, int Seed, int TrainImages, int HeldOutImages, int ImageSize,
        double MicroAccuracy, double MacroAccuracy, double LogLoss, double FitSeconds, string Settings, EpochResult[] Epochs)
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

        public static EpochResult[] FromHistory(IReadOnlyList<EpochRecord> history) => history.Select(h => new EpochResult(
            h.Epoch, h.FrozenStages.Select(s => s.ToString()).ToArray(), h.TrainLoss, h.TrainAccuracy,
            h.ValidationLoss, h.ValidationAccuracy, h.Duration.TotalSeconds)).ToArray();
    }
}

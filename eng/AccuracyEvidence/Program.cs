// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.CommandLine;
using System.CommandLine.Parsing;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Freezing;
using Microsoft.ML.Runtime;
using Microsoft.ML.Transforms;

namespace AccuracyEvidence
{
    /// <summary>
    /// Runs the comparison in stages (most important numbers first), each stage seed-major over its rows; stores each
    /// run's result as JSON (skipping runs already stored, so an interrupted invocation resumes) and rewrites
    /// docs/results.md and its plots from all stored results after every stage. Usage: <c>AccuracyEvidence --root
    /// &lt;repo&gt; [--stages 1,2,3,4,5] [--rows defaults,gradual] [--seeds 3] [--epochs 5] [--split-seed 2026]
    /// [--report-only] [--quick]</c>. <c>--quick</c> is a smoke test (1 seed, 2 epochs, 40 images per class) that
    /// writes under artifacts/accuracy-quick only.
    /// </summary>
    /// <remarks>
    /// The trainer never sees the test images: no run passes a <c>ValidationSet</c> (checked), so a row with
    /// validation holds out part of its training images (the trainer's <c>ValidationFraction</c>, 0.1 by default) and
    /// the best-epoch restore and <c>UnfreezeSchedule.Auto</c> decide on that hold-out alone. The test images are
    /// scored once, on the model <c>Fit</c> returned.
    /// </remarks>
    public static class Program
    {
        /// <summary>The stages, in the order they run: (data set, rows).</summary>
        public static readonly (string DataSet, string[] Recipes)[] Stages =
        {
            (DataSet.DogsAndCats, new[] { Recipe.Defaults, Recipe.LinearProbe, Recipe.Gradual }),
            (DataSet.DogsAndCats, new[]
            {
                Recipe.Full, Recipe.FineTune, Recipe.KerasProbe, Recipe.NoPretrained, Recipe.FixedRate,
                Recipe.NoValidation, Recipe.WithFlip,
            }),
            (DataSet.FashionMnist, new[]
            {
                Recipe.Defaults, Recipe.LinearProbe, Recipe.Gradual, Recipe.Full, Recipe.FineTune, Recipe.KerasProbe,
            }),
            (DataSet.Digits, new[]
            {
                Recipe.Defaults, Recipe.LinearProbe, Recipe.Gradual, Recipe.Full, Recipe.FineTune, Recipe.KerasProbe,
            }),
            (DataSet.DogsAndCats224, new[] { Recipe.Defaults, Recipe.LinearProbe, Recipe.Gradual }),
        };

        /// <summary>The rows each set's table shows (and the report counts as missing until stored).</summary>
        public static string[] PlannedRows(string dataSet)
            => Stages.Where(s => s.DataSet == dataSet).SelectMany(s => s.Recipes)
                .Concat(dataSet == DataSet.DogsAndCats ? new[] { Recipe.NoAuto } : Array.Empty<string>()).ToArray();

        public static int Main(string[] args)
        {
            var rootOption = new Option<string>("--root")
            {
                Description = "The repository (default: the folder holding Freezing.sln above the binaries).",
                // eng/accuracy-evidence.sh passes its own --root before the caller's arguments: the last one wins.
                AllowMultipleArgumentsPerToken = true,
            };
            var stagesOption = new Option<int[]>("--stages")
            {
                Description = $"The stages to run, comma-separated (default: all, 1-{Stages.Length}).",
                Arity = ArgumentArity.ExactlyOne,
                CustomParser = ParseStages,
            };
            var seedsOption = new Option<int>("--seeds")
            {
                Description = "Training seeds per row.",
                DefaultValueFactory = _ => 3,
            };
            var epochsOption = new Option<int>("--epochs")
            {
                Description = "Epochs per run.",
                DefaultValueFactory = _ => 5,
            };
            var rowsOption = new Option<string>("--rows")
            {
                Description = "Only these rows of each stage, comma-separated recipe ids (default: every row).",
            };
            var reportOnlyOption = new Option<bool>("--report-only")
            {
                Description = "Run nothing; rewrite results.md and its plots from the stored runs.",
            };
            var splitSeedOption = new Option<int>("--split-seed")
            {
                Description = "The seed of the train / test split; another than the default runs into " +
                    "artifacts/accuracy/v2-split<seed>/ and writes its report there (a second split for deciding " +
                    "changes of the defaults).",
                DefaultValueFactory = _ => DataSet.DefaultSplitSeed,
            };
            var quickOption = new Option<bool>("--quick")
            {
                Description = "A smoke test (1 seed, 2 epochs, 40 images per class) into artifacts/accuracy-quick.",
            };
            var command = new RootCommand(
                "The accuracy evidence of docs/results.md: fine-tuning recipes x data sets x seeds, run in stages.")
            {
                rootOption, stagesOption, rowsOption, seedsOption, epochsOption, reportOnlyOption, quickOption,
                splitSeedOption,
            };
            command.SetAction(parsed =>
            {
                bool quick = parsed.GetValue(quickOption);
                DataSet.SplitSeed = parsed.GetValue(splitSeedOption);
                return RunStages(
                    parsed.GetValue(rootOption),
                    // Without --stages System.CommandLine gives an empty array, not null: that means all of them.
                    parsed.GetValue(stagesOption) is { Length: > 0 } chosen ? chosen
                        : Enumerable.Range(1, Stages.Length).ToArray(),
                    parsed.GetValue(rowsOption)?.Split(',', StringSplitOptions.RemoveEmptyEntries),
                    seeds: quick ? 1 : parsed.GetValue(seedsOption),
                    epochs: quick ? 2 : parsed.GetValue(epochsOption),
                    parsed.GetValue(reportOnlyOption),
                    quick);
            });
            return command.Parse(args).Invoke();
        }

        /// <summary>"1,2,3" into stage numbers, each between 1 and the number of stages.</summary>
        private static int[] ParseStages(ArgumentResult result)
        {
            var stages = new List<int>();
            foreach (string token in result.Tokens.Single().Value.Split(','))
            {
                if (!int.TryParse(token, NumberStyles.Integer, CultureInfo.InvariantCulture, out int stage)
                    || stage < 1 || stage > Stages.Length)
                {
                    result.AddError($"--stages: '{token}' is not a stage number (1-{Stages.Length}).");
                    return null;
                }
                stages.Add(stage);
            }
            return stages.ToArray();
        }

        private static int RunStages(string root, int[] stages, string[] rows, int seeds, int epochs, bool reportOnly,
            bool quick)
        {
            root ??= Samples.RepositoryScripts.FindRoot()
                ?? throw new InvalidOperationException("Run from the repository (eng/accuracy-evidence.sh).");
            // v2: the protocol where the trainer never sees the test images (earlier runs used them as validation).
            // Another split keeps its runs and its report apart from docs/results.md's.
            bool otherSplit = DataSet.SplitSeed != DataSet.DefaultSplitSeed;
            string results = Path.Combine(root, "artifacts", quick ? "accuracy-quick" : "accuracy",
                otherSplit ? $"v2-split{DataSet.SplitSeed}" : "v2");
            string docs = quick || otherSplit ? Path.Combine(results, "docs") : Path.Combine(root, "docs");

            var clock = Stopwatch.StartNew();
            if (!reportOnly)
            {
                var loaded = new Dictionary<string, DataSet>();
                foreach (int number in stages)
                {
                    var (name, recipes) = Stages[number - 1];
                    recipes = recipes.Where(r => rows == null || rows.Contains(r)).ToArray();
                    if (recipes.Length == 0)
                        continue;
                    if (!loaded.TryGetValue(name, out var data))
                    {
                        data = loaded[name] = DataSet.Load(name, quick ? 40 : null);
                        Console.WriteLine($"{name}: {data.Train.Count} train / {data.Test.Count} test images " +
                            $"at {data.ImageSize} px.");
                    }
                    Console.WriteLine($"Stage {number}: {name}, {string.Join(", ", recipes)}.");
                    // Seed-major: an interrupted stage leaves complete seeds behind.
                    for (int seed = 0; seed < seeds; seed++)
                    {
                        foreach (var recipe in recipes.Select(Recipe.Get))
                        {
                            string path = RunResult.PathFor(results, name, recipe.Id, seed);
                            if (RunResult.TryLoad(path) is { } done)
                            {
                                Console.WriteLine(
                                    $"  {recipe.Id} seed {seed}: stored ({Percent(done.MicroAccuracy)}), skipped.");
                                continue;
                            }
                            var result = Run(data, recipe, seed, epochs);
                            result.Save(path);
                            Console.WriteLine(
                                $"  {recipe.Id} seed {seed}: test accuracy {Percent(result.MicroAccuracy)}, " +
                                $"fit {result.FitSeconds:F0} s, {result.Epochs.Length} epochs " +
                                $"(kept {result.KeptEpoch}); {clock.Elapsed.TotalMinutes:F1} min so far.");
                        }
                    }
                    Report.Write(results, docs, seeds, epochs, quick);
                    Console.WriteLine($"Stage {number} done; wrote {Path.Combine(docs, "results.md")} " +
                        $"({clock.Elapsed.TotalMinutes:F1} min).");
                }
            }
            Report.Write(results, docs, seeds, epochs, quick);
            Console.WriteLine($"Wrote {Path.Combine(docs, "results.md")} ({clock.Elapsed.TotalMinutes:F1} min).");
            return 0;
        }

        private static RunResult Run(DataSet data, Recipe recipe, int seed, int epochs)
        {
            if (recipe.SameAs != null)
            {
                throw new InvalidOperationException(
                    $"{recipe.Id} reuses the runs of {recipe.SameAs}; it is not run itself.");
            }
            var ml = new MLContext(seed);
            ml.Log += (_, e) =>
            {
                if (e.Kind == ChannelMessageKind.Warning || e.Kind == ChannelMessageKind.Error)
                    Console.WriteLine($"    {e.Kind}: {e.RawMessage}");
            };
            var train = ml.Data.LoadFromEnumerable(data.Train);
            var test = ml.Data.LoadFromEnumerable(data.Test);
            var keys = ml.Transforms.Conversion.MapValueToKey(
                "Label", "Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue);
            // Only the columns, the image size, the epoch budget and the seed; the callback only prints.
            var options = new FrozenResNetTrainer.Options
            {
                LabelColumnName = "Label",
                FeatureColumnName = "ImageSource",
                ImageSize = data.ImageSize,
                Epochs = epochs,
                Seed = seed,
                MetricsCallback = epoch =>
                {
                    var e = epoch.Record;
                    Console.WriteLine(
                        $"    epoch {e.Epoch}: frozen {e.FrozenStages.Count} stages, train loss {e.TrainLoss:F3}, " +
                        $"validation loss {e.ValidationLoss?.ToString("F3", CultureInfo.InvariantCulture) ?? "-"} " +
                        $"acc {Percent(e.ValidationAccuracy ?? double.NaN)}, " +
                        $"{e.Duration.TotalSeconds:F0} s{(e.ThawReason != null ? "; " + e.ThawReason : "")}");
                },
            };
            recipe.Apply(options);
            if (options.ValidationSet != null)
            {
                throw new InvalidOperationException(
                    $"{recipe.Id}: a ValidationSet; validation must come out of the training images.");
            }
            Console.WriteLine($"  {recipe.Id} seed {seed}: {recipe.Description}; {options.Epochs} epochs ...");

            var clock = Stopwatch.StartNew();
            var model = keys.Append(ml.MulticlassClassification.Trainers.FrozenResNet(options)).Fit(train);
            double fitSeconds = clock.Elapsed.TotalSeconds;
            try
            {
                // The test images, once, after training.
                var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
                var history = RunResult.FromHistory(model.LastTransformer.History.Select(e => e.Record).ToList());
                return new RunResult(data.Name, recipe.Id, seed, data.Train.Count, data.Test.Count, data.ImageSize,
                    metrics.MicroAccuracy, metrics.MacroAccuracy, metrics.LogLoss, fitSeconds,
                    Settings(options, history), history);
            }
            finally
            {
                model.Dispose();
            }
        }

        /// <summary>
        /// The options as the row set them ("auto" where left to the trainer) and what the first epoch ran with.
        /// </summary>
        private static string Settings(FrozenResNetTrainer.Options o, EpochResult[] history)
        {
            string weights = o.PretrainedWeights == null ? "auto (ML.NET ResNet-18)"
                : o.PretrainedWeights == PretrainedWeights.None ? "None (random)"
                : o.PretrainedWeights.Description;
            string rate = o.LearningRate.HasValue
                ? o.LearningRate.Value.ToString("g3", CultureInfo.InvariantCulture)
                : "auto";
            return string.Create(CultureInfo.InvariantCulture,
                $"weights {weights}, lr {rate} (head at epoch 0: {history.FirstOrDefault()?.HeadLearningRate:g3}), " +
                $"freeze {o.Freeze?.ToString() ?? "auto"}, unfreeze {o.Unfreezing?.ToString() ?? "auto"}, " +
                $"validation fraction {o.ValidationFraction:g3}, restore best epoch {o.RestoreBestEpoch}, " +
                $"epochs {o.Epochs}, batch {o.BatchSize}, {o.Optimizer} momentum {o.Momentum}, " +
                $"weight decay {o.WeightDecay:g3}, layer decay {o.LayerLearningRateDecay:g3}, " +
                $"schedule {o.LearningRateSchedule}, BN {o.BatchNorm}, augmentation {o.Augmentation}, " +
                $"horizontal flip {o.HorizontalFlip}");
        }

        public static string Percent(double value)
            => double.IsNaN(value) ? "-" : (100 * value).ToString("F2", CultureInfo.InvariantCulture) + "%";
    }
}

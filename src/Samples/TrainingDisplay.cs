// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Microsoft.ML.Freezing;
using Spectre.Console;

namespace Samples
{
    /// <summary>
    /// What <c>train</c> shows while the trainer runs: a Spectre.Console progress bar per epoch (batch, loss, images/s,
    /// ETA) on an interactive terminal, a few plain progress lines per epoch when the output is redirected, and in both
    /// cases one line per epoch: frozen stages, learning rates, train/validation loss and accuracy, images/s.
    /// </summary>
    public sealed class TrainingDisplay
    {
        private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
        private readonly int _epochs;
        private readonly int _batchSize;
        private readonly bool _interactive;
        private ProgressContext _context;
        private ProgressTask _task;
        private int _taskEpoch = -1;
        private EpochRecord _previous;
        private bool _stopShown;

        public TrainingDisplay(int epochs, int batchSize)
        {
            _epochs = epochs;
            _batchSize = batchSize;
            _interactive = IsInteractive;
        }

        /// <summary>Progress bars only on a terminal that can redraw them (not when output goes to a file or
        /// pipe).</summary>
        public static bool IsInteractive
            => !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive
                && AnsiConsole.Profile.Capabilities.Ansi;

        /// <summary>Runs <paramref name="train"/> (which calls <see cref="OnBatch"/> and <see cref="OnEpoch"/>) under
        /// the display.</summary>
        public T Run<T>(Func<T> train)
        {
            if (!_interactive)
                return train();
            return AnsiConsole.Progress()
                .AutoClear(true)
                .HideCompleted(true)
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(),
                new PercentageColumn(),
                    new RemainingTimeColumn(), new SpinnerColumn())
                .Start(context =>
                {
                    _context = context;
                    try
                    {
                        return train();
                    }
                    finally
                    {
                        _task?.StopTask();
                        _context = null;
                    }
                });
        }

        /// <summary>After each training batch (the trainer's <c>BatchCallback</c>).</summary>
        public void OnBatch(BatchProgress p)
        {
            double eta = p.ImagesPerSecond > 0 ? (p.BatchesPerEpoch - p.Batch) * (double)_batchSize / p.ImagesPerSecond
                : double.NaN;
            string text = $"epoch {Epoch(p.Epoch, _epochs)} batch {p.Batch}/{p.BatchesPerEpoch} loss " +
                $"{p.Loss.ToString("F3", Inv)} {p.ImagesPerSecond.ToString("F0", Inv)} img/s";
            if (_context != null)
            {
                if (_taskEpoch != p.Epoch)
                {
                    _task?.StopTask();
                    _task = _context.AddTask(Markup.Escape(text), maxValue: p.BatchesPerEpoch);
                    _taskEpoch = p.Epoch;
                }
                _task.Description = Markup.Escape(p.Batch == p.BatchesPerEpoch ? text + " (validating)" : text);
                _task.Value = p.Batch;
                return;
            }
            // Redirected output: about five lines per epoch, so that logs show progress without drowning in it.
            int every = Math.Max(1, p.BatchesPerEpoch / 5);
            if (p.Batch % every == 0 || p.Batch == p.BatchesPerEpoch)
                Console.WriteLine($"  {text} ETA {Duration(eta)}");
        }

        /// <summary>After each epoch (the trainer's <c>MetricsCallback</c>).</summary>
        public void OnEpoch(FrozenResNetEpoch epoch)
        {
            var r = epoch.Record;
            var thawed = _previous == null ? new List<ResNetStage>()
                : _previous.FrozenStages.Except(r.FrozenStages).ToList();
            _previous = r;
            if (_context != null)
            {
                _task?.StopTask();
                _task = null;
                _taskEpoch = -1;
            }
            WriteLine(EpochLine(r, _epochs, thawed));
            // One line per decision of a thaw policy (Auto says why it thaws, waits, restores or stops), in the
            // engine's words; its epochs count from 0 (EpochRecord.Epoch), as every line here does.
            if (r.ThawReason != null)
                WriteLine($"  thaw policy: {r.ThawReason}");
            if (r.StopReason != null)
                WriteLine($"  stopped: {r.StopReason}");
            _stopShown = r.StopReason != null;
        }

        /// <summary>After training: why the run stopped and whose weights it kept, when the trainer decided it after
        /// the last epoch line (Auto's last decision and the best-epoch restore come after that epoch's callback; a
        /// restore during the run is said by the thaw policy's line under the next epoch).</summary>
        public void ShowEnd(EpochRecord last)
        {
            if (!_stopShown && last?.StopReason != null)
                Console.WriteLine($"  stopped after epoch {last.Epoch}: {last.StopReason}");
            if (last?.RestoredEpoch.HasValue == true)
                Console.WriteLine($"  {Restored(last)}");
        }

        private string Restored(EpochRecord r)
            => r.HeadOnlyBaselineKept
                ? $"kept the head alone as trained to epoch {r.RestoredEpoch} by the head-only baseline " +
                  $"(restored after epoch {r.Epoch})"
                : $"kept the weights of epoch {r.RestoredEpoch} (restored after epoch {r.Epoch})";

        /// <summary>A line above the progress bar (or a plain line); for the trainer's warnings.</summary>
        public void WriteLine(string line)
        {
            if (_context != null)
                AnsiConsole.MarkupLine(Markup.Escape(line));
            else
                Console.WriteLine(line);
        }

        /// <summary>
        /// <c>epoch 1 (2 of 3)  thawed layer4  frozen stem..layer3  lr layer4..head=0.01  train loss 0.4132 acc 81.2%
        /// val loss 0.3900 acc 83.0%  98.1 img/s  17.2 s</c>.
        /// </summary>
        public static string EpochLine(EpochRecord r, int epochs, IReadOnlyCollection<ResNetStage> thawed)
        {
            string frozen = r.FrozenStages.Count == 0 ? "none" : StageList(r.FrozenStages);
            string rates = Rates(r.StageLearningRates.Where(kv => !r.FrozenStages.Contains(kv.Key)));
            string validation = r.ValidationLoss.HasValue
                ? $"  val loss {r.ValidationLoss.Value.ToString("F4", Inv)} acc " +
                $"{MetricsReport.Percent(r.ValidationAccuracy.GetValueOrDefault())}"
                : "";
            string thaw = thawed.Count > 0 ? $"  thawed {StageList(thawed)}" : "";
            return $"epoch {Epoch(r.Epoch, epochs)}{thaw}  frozen {frozen}  lr {rates}  " +
                   $"train loss {r.TrainLoss.ToString("F4", Inv)} acc " +
                   $"{MetricsReport.Percent(r.TrainAccuracy)}{validation}  " +
                   $"{r.ImagesPerSecond.ToString("F1", Inv)} img/s  {r.Duration.TotalSeconds.ToString("F1", Inv)} s";
        }

        /// <summary>
        /// <c>epoch 0 (1 of 5)</c>: the index counts from 0, as the library's API, history and thaw-policy messages
        /// do (and ML.NET's image trainer and Lightning); the count in brackets says how far the run has come.
        /// </summary>
        public static string Epoch(int epoch, int epochs) => $"{epoch} ({epoch + 1} of {epochs})";

        /// <summary>Rates by stage, neighbouring stages with the same rate merged: <c>layer3..head=0.01</c>.</summary>
        private static string Rates(IEnumerable<KeyValuePair<ResNetStage, double>> rates)
        {
            var sorted = rates.OrderBy(kv => kv.Key).ToList();
            var parts = new List<string>();
            for (int i = 0; i < sorted.Count;)
            {
                int j = i;
                while (j + 1 < sorted.Count && sorted[j + 1].Key == sorted[j].Key + 1
                       && Math.Abs(sorted[j + 1].Value - sorted[i].Value) <= 1e-9 * Math.Abs(sorted[i].Value))
                    j++;
                string stages = j == i ? sorted[i].Key.Name() : $"{sorted[i].Key.Name()}..{sorted[j].Key.Name()}";
                parts.Add($"{stages}={sorted[i].Value.ToString("g3", Inv)}");
                i = j + 1;
            }
            return parts.Count == 0 ? "-" : string.Join(" ", parts);
        }

        /// <summary>Stages as text, contiguous runs written as ranges: <c>stem..layer3</c>, <c>layer4</c>.</summary>
        public static string StageList(IEnumerable<ResNetStage> stages)
        {
            var sorted = stages.Distinct().OrderBy(s => s).ToList();
            var parts = new List<string>();
            for (int i = 0; i < sorted.Count;)
            {
                int j = i;
                while (j + 1 < sorted.Count && sorted[j + 1] == sorted[j] + 1)
                    j++;
                parts.Add(j == i ? sorted[i].Name() : $"{sorted[i].Name()}..{sorted[j].Name()}");
                i = j + 1;
            }
            return string.Join(",", parts);
        }

        private static string Duration(double seconds)
            => double.IsFinite(seconds) ? TimeSpan.FromSeconds(Math.Round(seconds)).ToString(@"m\:ss", Inv) : "?";
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Freezing;
using ScottPlot;

namespace Samples
{
    /// <summary>
    /// The learning-curve PNG of a training run (ScottPlot): loss above, accuracy below, train and validation per
    /// epoch, with a dashed vertical line before each epoch at which stages thawed, labelled with those stages, and a
    /// dotted one at the epoch whose weights were kept when an earlier epoch was restored.
    /// </summary>
    public static class LearningCurve
    {
        /// <summary>Writes the PNG to <paramref name="path"/> (through a temporary file in the same folder).</summary>
        public static void Save(IReadOnlyList<EpochRecord> history, string path, string title)
        {
            if (history.Count == 0)
                return;
            // Epochs count from 0, as in the API and the training log; epoch e's metrics are those after it trained.
            double[] xs = history.Select(h => (double)h.Epoch).ToArray();
            bool validation = history.All(h => h.ValidationLoss.HasValue);

            var multiplot = new Multiplot();
            multiplot.AddPlots(2);
            var loss = multiplot.GetPlot(0);
            var accuracy = multiplot.GetPlot(1);

            AddSeries(loss, xs, history.Select(h => h.TrainLoss), "train", Colors.C0);
            AddSeries(accuracy, xs, history.Select(h => 100 * h.TrainAccuracy), "train", Colors.C0);
            if (validation)
            {
                AddSeries(loss, xs, history.Select(h => h.ValidationLoss.Value), "validation", Colors.C1);
                AddSeries(accuracy, xs, history.Select(h => 100 * h.ValidationAccuracy.Value), "validation", Colors.C1);
            }

            foreach (var (epoch, stages) in Thaws(history))
            {
                foreach (var plot in new[] { loss, accuracy })
                {
                    var line = plot.Add.VerticalLine(epoch - 0.5, width: 1.5f, color: Colors.Gray,
                        pattern: LinePattern.Dashed);
                    line.Text = "thaw " + TrainingDisplay.StageList(stages);
                    line.LabelOppositeAxis = true;
                    line.LabelFontSize = 11;
                }
            }

            // The epoch whose weights the model holds when the run put an earlier epoch's back after its last epoch
            // (a restore before an epoch that then trained, as Auto's, is recorded on an earlier epoch).
            var restored = history.Count > 0 ? history[history.Count - 1].RestoredEpoch : null;
            if (restored.HasValue)
            {
                foreach (var plot in new[] { loss, accuracy })
                {
                    var line = plot.Add.VerticalLine(restored.Value, width: 1.5f, color: Colors.Green,
                        pattern: LinePattern.Dotted);
                    line.Text = "kept";
                    line.LabelFontSize = 11;
                }
            }

            loss.Title(title);
            loss.YLabel("loss (cross-entropy)");
            accuracy.YLabel("accuracy (%)");
            accuracy.XLabel("epoch");
            foreach (var plot in new[] { loss, accuracy })
            {
                plot.Axes.SetLimitsX(-0.5, history.Count - 0.5);
                plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(1);
                plot.ShowLegend(Alignment.UpperRight);
            }
            double maxLoss = history.Max(h => Math.Max(h.TrainLoss, h.ValidationLoss ?? 0));
            loss.Axes.SetLimitsY(0, double.IsFinite(maxLoss) && maxLoss > 0 ? maxLoss * 1.08 : 1);
            accuracy.Axes.SetLimitsY(Math.Max(0, Min(history) - 5), 100);

            string directory = Path.GetDirectoryName(Path.GetFullPath(path));
            string temp = Path.Combine(directory,
                Path.GetFileName(path) + ".tmp-" + Guid.NewGuid().ToString("N") + ".png");
            try
            {
                multiplot.SavePng(temp, 900, 700);
                File.Move(temp, path, overwrite: true);
            }
            finally
            {
                if (File.Exists(temp))
                    File.Delete(temp);
            }
        }

        /// <summary>The epochs at whose start some stages thawed, with those stages.</summary>
        public static IEnumerable<(int Epoch, IReadOnlyList<ResNetStage> Stages)> Thaws(
            IReadOnlyList<EpochRecord> history)
        {
            for (int i = 1; i < history.Count; i++)
            {
                var thawed = history[i - 1].FrozenStages.Except(history[i].FrozenStages).ToList();
                if (thawed.Count > 0)
                    yield return (history[i].Epoch, thawed);
            }
        }

        private static void AddSeries(Plot plot, double[] xs, IEnumerable<double> ys, string label, Color color)
        {
            var scatter = plot.Add.Scatter(xs, ys.ToArray(), color);
            scatter.LegendText = label;
            scatter.MarkerSize = 7;
            scatter.LineWidth = 2;
        }

        private static double Min(IReadOnlyList<EpochRecord> history)
            => history.Min(h => 100 * Math.Min(h.TrainAccuracy, h.ValidationAccuracy ?? h.TrainAccuracy));
    }
}

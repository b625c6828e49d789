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
            var multiplot = new Multiplot();
            multiplot.AddPlots(2);
            var loss = multiplot.GetPlot(0);
            var accuracy = multiplot.GetPlot(1);
            double maxLoss = history.Max(h => Math.Max(h.TrainLoss, h.ValidationLoss ?? 0));
            var lossRange = (Bottom: 0.0, Top: double.IsFinite(maxLoss) && maxLoss > 0 ? maxLoss * 1.08 : 1);
            var accuracyRange = (Bottom: Math.Max(0, Min(history) - 5), Top: 100.0);

            AddMetrics(loss, accuracy, history);
            foreach (var (plot, range) in new[] { (loss, lossRange), (accuracy, accuracyRange) })
            {
                AddMarkers(plot, history, range.Bottom, range.Top);
                plot.Axes.SetLimits(-0.5, history.Count - 0.5, range.Bottom, range.Top);
                plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(1);
                // Outside the data, on the right of both plots alike, so that it covers no point and the epochs align.
                plot.ShowLegend(Edge.Right);
            }
            loss.Title(title);
            loss.YLabel("loss (cross-entropy)");
            accuracy.YLabel("accuracy (%)");
            accuracy.XLabel("epoch");
            SavePng(multiplot, path);
        }

        // Epochs count from 0, as in the API and the training log; epoch e's metrics are those after it trained.
        private static void AddMetrics(Plot loss, Plot accuracy, IReadOnlyList<EpochRecord> history)
        {
            double[] xs = history.Select(h => (double)h.Epoch).ToArray();
            AddSeries(loss, xs, history.Select(h => h.TrainLoss), "train", Colors.C0);
            AddSeries(accuracy, xs, history.Select(h => 100 * h.TrainAccuracy), "train", Colors.C0);
            if (!history.All(h => h.ValidationLoss.HasValue))
                return;
            AddSeries(loss, xs, history.Select(h => h.ValidationLoss.Value), "validation", Colors.C1);
            AddSeries(accuracy, xs, history.Select(h => 100 * h.ValidationAccuracy.Value), "validation", Colors.C1);
        }

        // A dashed line before each epoch at which stages thawed, named at the top inside the data area (above it the
        // label would cover the title), and a dotted one at the epoch whose weights the model holds when the run put
        // an earlier epoch's back after its last epoch (a restore before an epoch that then trained, as Auto's, is
        // recorded on an earlier epoch), named at the bottom.
        private static void AddMarkers(Plot plot, IReadOnlyList<EpochRecord> history, double bottom, double top)
        {
            foreach (var (epoch, stages) in Thaws(history))
            {
                plot.Add.VerticalLine(epoch - 0.5, width: 1.5f, color: Colors.Gray, pattern: LinePattern.Dashed);
                Label(plot, "thaw " + TrainingDisplay.StageList(stages), epoch - 0.5, top, Alignment.UpperCenter,
                    Colors.Gray);
            }
            if (history[^1].RestoredEpoch is int restored)
            {
                plot.Add.VerticalLine(restored, width: 1.5f, color: Colors.Green, pattern: LinePattern.Dotted);
                Label(plot, "kept", restored, bottom, Alignment.LowerCenter, Colors.Green);
            }
        }

        private static void Label(Plot plot, string text, double x, double y, Alignment alignment, Color background)
        {
            var label = plot.Add.Text(text, x, y);
            label.LabelAlignment = alignment;
            label.LabelFontSize = 11;
            label.LabelBold = true;
            label.LabelFontColor = Colors.White;
            label.LabelBackgroundColor = background;
            label.LabelPadding = 3;
        }

        private static void SavePng(Multiplot multiplot, string path)
        {
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

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Freezing;
using SkiaSharp;

/// <summary>
/// <c>FuzzHost train &lt;checkpoint-folder&gt; &lt;epochs&gt; &lt;fail-after-epoch&gt; &lt;scores-file&gt;</c>: the
/// child of Reliability/CheckpointProcessTests. Trains with the trainer's defaults (head first, Auto unfreezing, a
/// held-out validation split) on a tiny network and 64 generated 32 px images, with checkpoints in the folder; ends
/// the process with <see cref="Environment.FailFast(string)"/> right after the MetricsCallback of epoch
/// fail-after-epoch (-1: never).
/// Output, one line each: "EPOCH e" (the MetricsCallback), "LOG message" (checkpoint lines of the log),
/// "HISTORY e fromCheckpoint trainLoss validationLoss", "DONE"; the scores of the 64 images go to the scores file.
/// </summary>
internal static class CheckpointRun
{
    private static readonly ResNetDefinition Definition = new ResNetDefinition(ResNetBlockType.Basic,
        new[] { 1, 1, 1, 1 }, 2);

    public static int Train(TextWriter output, string folder, int epochs, int failAfter, string scoresFile)
    {
        var ml = new MLContext(seed: 1);
        ml.Log += (_, e) =>
        {
            if (e.Message.Contains("heckpoint", StringComparison.Ordinal)
                || e.Message.Contains("Resuming", StringComparison.Ordinal))
                output.WriteLine("LOG " + e.Message);
        };
        var data = ml.Data.LoadFromEnumerable(Stripes(64, seed: 5));
        var options = new FrozenResNetTrainer.Options
        {
            FeatureColumnName = "ImageSource", ImageSize = 32, Epochs = epochs, BatchSize = 16, LearningRate = 0.01,
            Seed = 1, NumberOfThreads = 1, PretrainedWeights = Weights(folder), CheckpointFolder = folder,
            // The default Auto, with a min delta these short epochs do not reach: it thaws at every epoch boundary.
            Unfreezing = UnfreezeSchedule.Auto(1, minDelta: 0.05),
            MetricsCallback = epoch =>
            {
                output.WriteLine($"EPOCH {epoch.Record.Epoch}");
                if (epoch.Record.Epoch == failAfter)
                    Environment.FailFast($"CheckpointRun: failing fast after epoch {failAfter}, as asked.");
            },
        };
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.MulticlassClassification.Trainers.FrozenResNet(options));
        using var model = pipeline.Fit(data);
        foreach (var epoch in model.LastTransformer.History)
        {
            var r = epoch.Record;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"HISTORY {r.Epoch} {r.FromCheckpoint} {r.TrainLoss:R} {r.ValidationLoss:R}"));
        }
        var scores = ml.Data.CreateEnumerable<ScoreRow>(model.Transform(data), reuseRowObject: false)
            .SelectMany(row => row.Score).Select(s => s.ToString("R", CultureInfo.InvariantCulture));
        File.WriteAllLines(scoresFile, scores);
        output.WriteLine("DONE");
        return 0;
    }

    // Random tiny "pretrained" weights, the same in every process, beside the checkpoint folder.
    private static PretrainedWeights Weights(string folder)
    {
        string path = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(folder)), "tiny-weights.bin");
        if (!File.Exists(path))
        {
            using var network = new ResNet(Definition, seed: 0);
            network.save(path + "." + Environment.ProcessId);
            File.Move(path + "." + Environment.ProcessId, path, overwrite: true);
        }
        return PretrainedWeights.FromTorchSharpFile(path, Definition, ImagePreprocessing.ImageNet(32));
    }

    // Horizontal against vertical stripes with random period and colours, as PNG (the tests' GeneratedImages).
    private static List<Row> Stripes(int count, int seed)
    {
        var random = new Random(seed);
        var rows = new List<Row>(count);
        for (int i = 0; i < count; i++)
        {
            bool horizontal = i % 2 == 0;
            using var bitmap = new SKBitmap(32, 32, SKColorType.Rgba8888, SKAlphaType.Premul);
            int period = random.Next(4, 10);
            var a = new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));
            var b = new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));
            for (int y = 0; y < 32; y++)
            {
                for (int x = 0; x < 32; x++)
                    bitmap.SetPixel(x, y, ((horizontal ? y : x) % period) < period / 2 ? a : b);
            }
            using var image = SKImage.FromBitmap(bitmap);
            using var png = image.Encode(SKEncodedImageFormat.Png, 100);
            rows.Add(new Row { ImageSource = png.ToArray(), Label = horizontal ? "horizontal" : "vertical" });
        }
        return rows;
    }

    private sealed class Row
    {
        public byte[] ImageSource { get; set; }
        public string Label { get; set; }
    }

    private sealed class ScoreRow
    {
        public float[] Score { get; set; }
    }
}

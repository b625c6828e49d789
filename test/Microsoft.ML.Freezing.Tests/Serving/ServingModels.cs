// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Freezing.Tests.MLNet;
using Microsoft.ML.Freezing.Tests.Reliability;
using SkiaSharp;

namespace Microsoft.ML.Freezing.Tests.Serving
{
    /// <summary>
    /// The models and images the <c>serve</c> tests send: tiny ResNets (<see cref="TinyModel"/>'s weights, 32 px,
    /// <see cref="Epochs"/> epochs on 36 generated images, a few seconds each) trained once per test run and saved as
    /// zips in a temp folder. Three classes, so that <c>/predict</c>'s top 3 is full.
    /// </summary>
    internal static class ServingModels
    {
        /// <summary>The classes of <see cref="Zip"/> and <see cref="OtherWeightsZip"/>.</summary>
        public static readonly string[] Classes = { "horizontal", "vertical", "plain" };

        /// <summary>Training epochs of each model (its history's length).</summary>
        public const int Epochs = 3;

        private static readonly Lazy<string> _zip = new Lazy<string>(() => Train("serve-a.zip", Classes, seed: 1));
        private static readonly Lazy<string> _other = new Lazy<string>(() => Train("serve-a2.zip", Classes, seed: 2));
        private static readonly Lazy<string> _otherClasses = new Lazy<string>(
            () => Train("serve-b.zip", new[] { "left", "right", "middle" }, seed: 3));
        private static readonly Lazy<string> _copiedColumn = new Lazy<string>(
            () => Train("serve-c.zip", Classes, seed: 4, featureColumn: "Photo"));

        /// <summary>The served model.</summary>
        public static string Zip => _zip.Value;
        /// <summary>The same classes, other weights: a replacement that reloads.</summary>
        public static string OtherWeightsZip => _other.Value;
        /// <summary>Other class names: a replacement that is refused.</summary>
        public static string OtherClassesZip => _otherClasses.Value;
        /// <summary>A pipeline that copies <c>ImageSource</c> to <c>Photo</c> and trains on that: batching cannot
        /// serve it.</summary>
        public static string CopiedColumnZip => _copiedColumn.Value;

        /// <summary>A PNG of the class <paramref name="label"/> (one of <see cref="Classes"/>).</summary>
        public static byte[] Image(string label, int seed, int size = 32)
        {
            var random = new Random(seed);
            return label == "plain" ? Plain(random, size) : GeneratedImages.Draw(label == "horizontal", random, size);
        }

        /// <summary>Class probabilities of <paramref name="image"/> from <paramref name="zip"/>, scored in this process
        /// by an ML.NET <c>PredictionEngine</c>: what the server must answer.</summary>
        public static float[] ScoreInProcess(string zip, byte[] image)
        {
            var ml = new MLContext(seed: 1);
            var model = ml.Model.Load(zip, out _);
            try
            {
                using var engine = TinyModel.Engine(ml, model);
                return engine.Predict(new ModelInput { ImageSource = image }).Score;
            }
            finally
            {
                (model as IDisposable)?.Dispose();
            }
        }

        /// <summary>A copy of <paramref name="zip"/> in a fresh folder of its own (the server watches it).</summary>
        public static string CopyToNewFolder(string zip)
        {
            string folder = Path.Combine(TinyModel.Folder, "serve-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(folder);
            string path = Path.Combine(folder, "model.zip");
            File.Copy(zip, path);
            return path;
        }

        /// <summary>Replaces <paramref name="target"/> the way a deployment does: write beside it, then rename over
        /// it.</summary>
        public static void ReplaceFile(string target, byte[] contents)
        {
            string temp = target + ".tmp-" + Guid.NewGuid().ToString("N");
            File.WriteAllBytes(temp, contents);
            File.Move(temp, target, overwrite: true);
        }

        private static string Train(string name, string[] classes, int seed, string featureColumn = "ImageSource")
        {
            using var oneThread = TinyModel.OneThread();
            var ml = new MLContext(seed: seed);
            var rows = new List<ModelInput>();
            for (int i = 0; i < 12 * classes.Length; i++)
                rows.Add(new ModelInput
                {
                    ImageSource = Image(Classes[i % 3], seed * 1000 + i),
                    Label = classes[i % classes.Length],
                });
            var data = ml.Data.LoadFromEnumerable(rows);
            var options = TinyModel.Options(epochs: Epochs);
            options.Seed = seed;
            options.BatchSize = 8;
            options.FeatureColumnName = featureColumn;
            string path = Path.Combine(TinyModel.Folder, name);
            var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
                .Append(ml.Transforms.CopyColumns(featureColumn, "ImageSource"))
                .Append(ml.MulticlassClassification.Trainers.FrozenResNet(options));
            using (var model = pipeline.Fit(data))
                ml.Model.Save(model, data.Schema, path);
            return path;
        }

        private static byte[] Plain(Random random, int size)
        {
            using var bitmap = new SKBitmap(size, size, SKColorType.Rgba8888, SKAlphaType.Premul);
            var c = new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));
            for (int y = 0; y < size; y++)
            {
                for (int x = 0; x < size; x++)
                {
                    int noise = random.Next(-20, 21);
                    bitmap.SetPixel(x, y, new SKColor(Clamp(c.Red + noise), Clamp(c.Green + noise),
                        Clamp(c.Blue + noise)));
                }
            }
            using var image = SKImage.FromBitmap(bitmap);
            using var png = image.Encode(SKEncodedImageFormat.Png, 100);
            return png.ToArray();
        }

        private static byte Clamp(int v) => (byte)Math.Clamp(v, 0, 255);
    }
}

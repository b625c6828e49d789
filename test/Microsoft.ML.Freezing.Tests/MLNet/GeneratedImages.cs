// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using SkiaSharp;

namespace Microsoft.ML.Freezing.Tests.MLNet
{
    /// <summary>Model Builder's input shape.</summary>
    public sealed class ModelInput
    {
        public byte[] ImageSource { get; set; }
        public string Label { get; set; }
    }

    /// <summary>Model Builder's output shape.</summary>
    public sealed class ModelOutput
    {
        public string PredictedLabel { get; set; }
        public float[] Score { get; set; }
    }

    /// <summary>
    /// A generated task that needs spatial features: horizontal vs vertical stripes with random period, phase and
    /// colours (colour statistics alone cannot tell the classes apart), encoded as PNG.
    /// </summary>
    internal static class GeneratedImages
    {
        public static readonly string[] Classes = { "horizontal", "vertical" };

        public static List<ModelInput> Stripes(int count, int seed, int size = 32)
        {
            var random = new Random(seed);
            var rows = new List<ModelInput>(count);
            for (int i = 0; i < count; i++)
            {
                int label = i % Classes.Length;
                rows.Add(new ModelInput { ImageSource = Draw(label == 0, random, size), Label = Classes[label] });
            }
            return rows;
        }

        public static byte[] Draw(bool horizontal, Random random, int size)
        {
            using var bitmap = new SKBitmap(size, size, SKColorType.Rgba8888, SKAlphaType.Premul);
            int period = random.Next(4, 10);
            int phase = random.Next(period);
            var a = RandomColor(random);
            var b = RandomColor(random);
            for (int y = 0; y < size; y++)
            {
                for (int x = 0; x < size; x++)
                {
                    int t = (horizontal ? y : x) + phase;
                    var c = (t % period) < period / 2 ? a : b;
                    int noise = random.Next(-20, 21);
                    bitmap.SetPixel(x, y,
                        new SKColor(Clamp(c.Red + noise), Clamp(c.Green + noise), Clamp(c.Blue + noise)));
                }
            }
            using var image = SKImage.FromBitmap(bitmap);
            using var png = image.Encode(SKEncodedImageFormat.Png, 100);
            return png.ToArray();
        }

        private static SKColor RandomColor(Random random)
            => new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));

        private static byte Clamp(int v) => (byte)Math.Clamp(v, 0, 255);
    }
}

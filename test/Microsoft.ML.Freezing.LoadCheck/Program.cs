// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;

// Usage: LoadCheck <model.zip> <image folder> <scores.tsv>
// Scores every *.png of the folder (in name order) with the loaded model; writes one line per image:
// file name, then the Score vector with round-trip precision.
// Usage: LoadCheck <model.zip> --exit-after-load
// Loads the model and ends at once (a process must exit cleanly whatever the library still prepares).
if (args.Length == 2 && args[1] == "--exit-after-load")
{
    _ = new MLContext().Model.Load(args[0], out _);
    Console.WriteLine("loaded");
    return 0;
}
if (args.Length != 3)
{
    Console.Error.WriteLine("usage: LoadCheck <model.zip> <image folder> <scores.tsv> | <model.zip> --exit-after-load");
    return 2;
}
var ml = new MLContext();
var model = ml.Model.Load(args[0], out var schema);
var files = Directory.GetFiles(args[1], "*.png").OrderBy(f => f, StringComparer.Ordinal).ToArray();
var input = ml.Data.LoadFromEnumerable(
    files.Select(f => new ImageRow { ImageSource = File.ReadAllBytes(f), Label = "" }));
var scored = model.Transform(input);
var scores = scored.GetColumn<float[]>("Score").ToArray();
using var output = new StreamWriter(args[2]);
for (int i = 0; i < files.Length; i++)
    output.WriteLine(
        Path.GetFileName(files[i]) + "\t" +
        string.Join("\t", scores[i].Select(s => s.ToString("R", CultureInfo.InvariantCulture))));
Console.WriteLine($"scored {files.Length} images with {model.GetType().Name}");
return 0;

internal sealed class ImageRow
{
    public byte[] ImageSource { get; set; }
    public string Label { get; set; }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;

// Usage: LoadCheck <model.zip> <image folder> <scores.tsv>
// Scores every *.png of the folder (in name order) with the loaded model; writes one line per image:
// file name, then the Score vector with round-trip precision.
// Usage: LoadCheck <model.zip> --exit-after-load
// Loads the model and ends at once (a process must exit cleanly whatever the library still prepares).
// Usage: LoadCheck --heap-reuse
// On the main thread (glibc's main arena, as a console app's training loop), after the library's
// NativeHeap.KeepFreedBlocks (by reflection: it is internal): writes a 40 MB malloc block, frees it, allocates and
// writes another; prints "kept: True|False" and the second block's minor page faults ("faults: N").
if (args.Length == 1 && args[0] == "--heap-reuse")
    return HeapReuse.Run();
if (args.Length == 2 && args[1] == "--exit-after-load")
{
    _ = new MLContext().Model.Load(args[0], out _);
    Console.WriteLine("loaded");
    return 0;
}
// Usage: LoadCheck <model.zip> --serve <image folder> [--read-network]
// What a serving app does with the default engine: loads the model, one prediction, then Transform over every *.png
// of the folder; with --read-network it reads the transformer's Network property first. Writes "predicted", then
// whether libtorch is mapped into the process: "libtorch mapped: True|False".
if (args.Length >= 3 && args[1] == "--serve")
{
    var context = new MLContext();
    var loaded = context.Model.Load(args[0], out _);
    if (args.Length == 4 && args[3] == "--read-network")
    {
        // By reflection, as a user's code would name it: this tool names no type of the library.
        var transformers = loaded is IEnumerable<ITransformer> chain ? chain.ToArray() : new[] { loaded };
        var network = transformers.Select(t => t.GetType().GetProperty("Network")?.GetValue(t)).Single(n => n != null);
        Console.WriteLine($"network: {network.GetType().Name}");
    }
    var images = Directory.GetFiles(args[2], "*.png").OrderBy(f => f, StringComparer.Ordinal).ToArray();
    var engine = context.Model.CreatePredictionEngine<ImageRow, ScoreRow>(loaded);
    var first = engine.Predict(new ImageRow { ImageSource = File.ReadAllBytes(images[0]), Label = "" });
    var all = loaded.Transform(context.Data.LoadFromEnumerable(
        images.Select(f => new ImageRow { ImageSource = File.ReadAllBytes(f), Label = "" })));
    int rows = all.GetColumn<float[]>("Score").Count();
    Console.WriteLine($"predicted {first.Score.Length} scores, transformed {rows} rows");
    bool mapped = File.ReadLines("/proc/self/maps")
        .Any(line => line.Contains("libtorch_cpu.so", StringComparison.Ordinal));
    Console.WriteLine($"libtorch mapped: {mapped}");
    return 0;
}
if (args.Length != 3)
{
    Console.Error.WriteLine("usage: LoadCheck <model.zip> <image folder> <scores.tsv> | <model.zip> --exit-after-load" +
        " | <model.zip> --serve <image folder> [--read-network] | --heap-reuse");
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

internal static class HeapReuse
{
    private const int BlockBytes = 40 << 20;

    public static int Run()
    {
        var keep = Type.GetType("Microsoft.ML.Freezing.NativeHeap, Microsoft.ML.Freezing", throwOnError: true)
            .GetMethod("KeepFreedBlocks", BindingFlags.Public | BindingFlags.Static);
        Console.WriteLine($"kept: {keep.Invoke(null, null)}");
        WriteAndFree(); // the heap grows once
        long before = MinorPageFaults();
        WriteAndFree();
        Console.WriteLine($"faults: {MinorPageFaults() - before}");
        return 0;
    }

    private static void WriteAndFree()
    {
        IntPtr block = Malloc((UIntPtr)BlockBytes);
        if (block == IntPtr.Zero)
            throw new OutOfMemoryException("malloc of 40 MB failed");
        for (int offset = 0; offset < BlockBytes; offset += 4096)
            System.Runtime.InteropServices.Marshal.WriteByte(block, offset, 1);
        Free(block);
    }

    // Field 10 of /proc/self/stat (after the parenthesised command name): minor faults of the process.
    private static long MinorPageFaults()
    {
        string stat = File.ReadAllText("/proc/self/stat");
        var fields = stat.Substring(stat.LastIndexOf(')') + 2).Split(' ');
        return long.Parse(fields[7], CultureInfo.InvariantCulture);
    }

    [System.Runtime.InteropServices.DllImport("libc.so.6", EntryPoint = "malloc")]
    private static extern IntPtr Malloc(UIntPtr size);

    [System.Runtime.InteropServices.DllImport("libc.so.6", EntryPoint = "free")]
    private static extern void Free(IntPtr block);
}

internal sealed class ImageRow
{
    public byte[] ImageSource { get; set; }
    public string Label { get; set; }
}

internal sealed class ScoreRow
{
    public float[] Score { get; set; }
}

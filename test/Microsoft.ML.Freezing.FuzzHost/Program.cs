// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.IO.Compression;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Freezing;

// A child process of Reliability/FuzzTests, Backbone/FoldedPresetTests and Reliability/CheckpointProcessTests: runs a
// batch of cases (or one training run) and reports on stdout, so that a native crash (SkiaSharp, libtorch, oneDNN) or a
// deliberate one ends this process and the parent still sees how far it got.
//
//   FuzzHost images <seed-image-folder> <first> <count> <seed>
//       decodes mutated copies of the folder's files (name order) with ImagePreprocessing.ImageNet(32)
//   FuzzHost zips <model.zip> <probe-image> <first> <count> <seed>
//       loads mutated copies of the zip from memory with MLContext.Model.Load; when one loads, scores the probe image
//   FuzzHost folded <image-size>
//       every network preset through the folded path against the modules, stage by stage (FoldedPresets.cs)
//   FuzzHost trainstep <image-size>
//       one training step of every network preset, everything trainable (TrainingPresets.cs)
//   FuzzHost train <checkpoint-folder> <epochs> <fail-after-epoch> <scores-file>
//       a training run with checkpoints that may fail fast after an epoch (CheckpointRun.cs)
//
// Case i uses its own generator, Random(seed * 1_000_003 + i), so `first` and `count` replay any single case.
// Output, one line each: "CASE i <mutation>" before case i runs, then "OK i <what>", "REJECTED i <type>: <message>"
// (a managed exception with a message; for a zip, the innermost exception's type, origin and message, as ML.NET wraps
// loader errors) or "UNEXPECTED i <type>: <message>" (an outcome the contract does not allow),
// and "RAN n" at the end.
if (args.Length == 2 && args[0] == "folded")
{
    var writer = new StreamWriter(Console.OpenStandardOutput()) { AutoFlush = true };
    writer.WriteLine($"RAN {FoldedPresets.Run(writer, Int(args[1]))}");
    return 0;
}
if (args.Length == 2 && args[0] == "trainstep")
{
    var writer = new StreamWriter(Console.OpenStandardOutput()) { AutoFlush = true };
    writer.WriteLine($"RAN {TrainingPresets.Run(writer, Int(args[1]))}");
    return 0;
}
if (args.Length == 5 && args[0] == "train")
{
    var writer = new StreamWriter(Console.OpenStandardOutput()) { AutoFlush = true };
    return CheckpointRun.Train(writer, args[1], Int(args[2]), Int(args[3]), args[4]);
}
if (args.Length < 5)
{
    Console.Error.WriteLine(
        "usage: FuzzHost images <folder> <first> <count> <seed> | zips <model.zip> <probe-image> <first> <count> " +
        "<seed> | folded <image-size> | trainstep <image-size> | train <checkpoint-folder> <epochs> " +
        "<fail-after-epoch> <scores-file>");
    return 2;
}
var output = new StreamWriter(Console.OpenStandardOutput()) { AutoFlush = true };
int ran = args[0] switch
{
    "images" => FuzzCases.Images(output, args[1], Int(args[2]), Int(args[3]), Int(args[4])),
    "zips" when args.Length >= 6 => FuzzCases.Zips(output, args[1], args[2], Int(args[3]), Int(args[4]), Int(args[5])),
    _ => -1,
};
if (ran < 0)
{
    Console.Error.WriteLine($"unknown mode '{args[0]}'");
    return 2;
}
output.WriteLine($"RAN {ran}");
return 0;

static int Int(string s) => int.Parse(s, CultureInfo.InvariantCulture);

internal static class FuzzCases
{
    public static int Images(TextWriter output, string folder, int first, int count, int seed)
    {
        var seeds = Directory.GetFiles(folder).OrderBy(f => f, StringComparer.Ordinal).Select(File.ReadAllBytes)
            .ToArray();
        var preprocessing = ImagePreprocessing.ImageNet(32);
        for (int i = first; i < first + count; i++)
        {
            var random = new Random(seed * 1_000_003 + i);
            int source = random.Next(seeds.Length);
            var bytes = Mutations.Apply(seeds[source], random, out string what);
            output.WriteLine($"CASE {i} seed file {source}, {what}, {bytes.Length} bytes");
            try
            {
                var rgb = preprocessing.DecodeAndResize(bytes);
                output.WriteLine(rgb.Length == 32 * 32 * 3 ? $"OK {i} decoded"
                    : $"UNEXPECTED {i} decoded to {rgb.Length} bytes");
            }
            catch (InvalidDataException ex) when (!string.IsNullOrWhiteSpace(ex.Message))
            {
                output.WriteLine($"REJECTED {i} {ex.GetType().Name}: {OneLine(ex.Message)}");
            }
            catch (Exception ex)
            {
                // The decoder's contract is InvalidDataException; anything else is a finding.
                output.WriteLine(
                    $"UNEXPECTED {i} {ex.GetType().Name}: {OneLine(ex.Message)} | {OneLine(ex.StackTrace)}");
            }
        }
        return count;
    }

    public static int Zips(TextWriter output, string zipPath, string probePath, int first, int count, int seed)
    {
        // Two hosts run side by side on the test machine; one intra-op thread each keeps them from spinning against
        // each other.
        TorchSharp.torch.set_num_threads(1);
        var original = File.ReadAllBytes(zipPath);
        var entries = ReadEntries(original);
        var probe = File.ReadAllBytes(probePath);
        var ml = new MLContext(seed: 1);
        var probeData = ml.Data.LoadFromEnumerable(new[] { new ProbeRow { ImageSource = probe, Label = "" } });
        for (int i = first; i < first + count; i++)
        {
            var random = new Random(seed * 1_000_003 + i);
            var bytes = MutateZip(original, entries, random, out string what);
            output.WriteLine($"CASE {i} {what}");
            try
            {
                var model = ml.Model.Load(new MemoryStream(bytes, writable: false), out _);
                try
                {
                    var scores = model.Transform(probeData).GetColumn<float[]>("Score").Single();
                    bool sane = scores.All(float.IsFinite) && Math.Abs(scores.Sum() - 1) < 1e-3;
                    output.WriteLine(sane ? $"OK {i} loaded and scored"
                        : $"UNEXPECTED {i} loaded, but scored [{string.Join(", ", scores)}]");
                }
                finally
                {
                    (model as IDisposable)?.Dispose();
                }
            }
            catch (Exception ex) when (!string.IsNullOrWhiteSpace(Innermost(ex).Message) && !IsBug(Innermost(ex)))
            {
                // ML.NET wraps a loader's error ("Error during class instantiation"): report the diagnosis inside.
                var cause = Innermost(ex);
                output.WriteLine(
                    $"REJECTED {i} {ex.GetType().Name}: [{cause.GetType().Name} from {Origin(cause)}] " +
                    $"{OneLine(cause.Message)}");
            }
            catch (Exception ex)
            {
                var cause = Innermost(ex);
                output.WriteLine(
                    $"UNEXPECTED {i} {ex.GetType().Name}: {OneLine(cause.Message)} [{cause.GetType().Name}] | " +
                    $"{OneLine(cause.StackTrace)}");
            }
        }
        return count;
    }

    // Exceptions that signal a bug rather than a diagnosis, wherever they come from.
    private static bool IsBug(Exception ex)
        => ex is NullReferenceException || ex is IndexOutOfRangeException || ex is AccessViolationException
            || ex is InvalidCastException
           || ex is StackOverflowException || ex is DivideByZeroException;

    private static Exception Innermost(Exception ex)
    {
        while (ex.InnerException != null)
            ex = ex.InnerException;
        return ex;
    }

    // The assembly whose code threw: this library, ML.NET, System.IO.Compression, ...
    private static string Origin(Exception ex) => ex.TargetSite?.DeclaringType?.Assembly.GetName().Name ?? "?";

    private static string OneLine(string text) => (text ?? "").Replace('\r', ' ').Replace('\n', ' ');

    private static List<(string Name, byte[] Bytes)> ReadEntries(byte[] zip)
    {
        using var archive = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read);
        return archive.Entries.Select(e =>
        {
            using var s = e.Open();
            using var m = new MemoryStream();
            s.CopyTo(m);
            return (e.FullName, m.ToArray());
        }).ToList();
    }

    private static byte[] MutateZip(byte[] original, List<(string Name, byte[] Bytes)> entries, Random random,
        out string what)
    {
        switch (random.Next(10))
        {
            case 0:
            case 1:
            {
                // The archive's own bytes: headers, compressed data, the central directory at the end.
                var bytes = (byte[])original.Clone();
                int start = random.Next(3) == 0 ? Math.Max(0, bytes.Length - 4096) : 0;
                var tail = bytes.AsSpan(start).ToArray();
                var mutated = Mutations.Apply(tail, random, out string how, headerBias: false);
                what = $"archive bytes from offset {start}: {how}";
                return bytes.AsSpan(0, start).ToArray().Concat(mutated).ToArray();
            }
            case 2:
            {
                int keep = random.Next(original.Length);
                what = $"archive truncated to {keep} of {original.Length} bytes";
                return original.AsSpan(0, keep).ToArray();
            }
            case 3:
            {
                int drop = random.Next(entries.Count);
                what = $"entry '{entries[drop].Name}' removed";
                return Write(entries.Where((_, j) => j != drop));
            }
            default:
            {
                // The content of one entry, re-zipped so that the zip's own CRC is right: only the model's checks see
                // it.
                int target = random.Next(entries.Count);
                var mutated = Mutations.Apply(entries[target].Bytes, random, out string how);
                what = $"entry '{entries[target].Name}' ({entries[target].Bytes.Length} bytes): {how}";
                return Write(entries.Select((e, j) => j == target ? (e.Name, mutated) : e));
            }
        }
    }

    private static byte[] Write(IEnumerable<(string Name, byte[] Bytes)> entries)
    {
        var stream = new MemoryStream();
        using (var archive = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, bytes) in entries)
            {
                using var s = archive.CreateEntry(name, CompressionLevel.NoCompression).Open();
                s.Write(bytes);
            }
        }
        return stream.ToArray();
    }

    private sealed class ProbeRow
    {
        public byte[] ImageSource { get; set; }
        public string Label { get; set; }
    }
}

/// <summary>Byte-level mutations, biased towards the first bytes (headers) where parsers decide what to
/// allocate.</summary>
internal static class Mutations
{
    private static readonly byte[][] Extremes =
    {
        new byte[] { 0, 0, 0, 0 }, new byte[] { 0xFF, 0xFF, 0xFF, 0xFF }, new byte[] { 0x7F, 0xFF, 0xFF, 0xFF },
        new byte[] { 0xFF, 0xFF, 0xFF, 0x7F }, new byte[] { 0x80, 0, 0, 0 }, new byte[] { 0, 0, 0, 0x80 },
        new byte[] { 0, 0, 0x75, 0x30 },
    };

    public static byte[] Apply(byte[] source, Random random, out string what, bool headerBias = true)
    {
        var bytes = new List<byte>(source);
        var done = new List<string>();
        int rounds = random.Next(4) == 0 ? 2 + random.Next(3) : 1;
        for (int round = 0; round < rounds; round++)
            done.Add(Once(bytes, random, headerBias));
        what = string.Join("; ", done);
        return bytes.ToArray();
    }

    private static string Once(List<byte> bytes, Random random, bool headerBias)
    {
        if (bytes.Count == 0)
        {
            bytes.AddRange(RandomBytes(random, 1 + random.Next(16)));
            return "random bytes into an empty array";
        }
        int Position() => headerBias && random.Next(2) == 0 ? random.Next(Math.Min(bytes.Count, 64))
            : random.Next(bytes.Count);
        int at = Position();
        switch (random.Next(7))
        {
            case 0:
            {
                int flips = 1 + random.Next(8);
                for (int f = 0; f < flips; f++)
                {
                    int p = Position();
                    bytes[p] ^= (byte)(1 << random.Next(8));
                }
                return $"{flips} bit flips";
            }
            case 1:
            {
                int length = Math.Min(1 + random.Next(16), bytes.Count - at);
                var fill = RandomBytes(random, length);
                for (int k = 0; k < length; k++) bytes[at + k] = fill[k];
                return $"{length} random bytes at {at}";
            }
            case 2:
            {
                int keep = random.Next(bytes.Count);
                bytes.RemoveRange(keep, bytes.Count - keep);
                return $"truncated to {keep}";
            }
            case 3:
            {
                int length = 1 + random.Next(64);
                bytes.InsertRange(at, RandomBytes(random, length));
                return $"{length} bytes inserted at {at}";
            }
            case 4:
            {
                int length = Math.Min(1 + random.Next(64), bytes.Count - at);
                bytes.RemoveRange(at, length);
                return $"{length} bytes deleted at {at}";
            }
            case 5:
            {
                var extreme = Extremes[random.Next(Extremes.Length)];
                int width = random.Next(2) == 0 ? 2 : 4;
                for (int k = 0; k < width && at + k < bytes.Count; k++) bytes[at + k] = extreme[k];
                return $"{width}-byte field at {at} set to {Convert.ToHexString(extreme, 0, width)}";
            }
            default:
            {
                int length = Math.Min(1 + random.Next(256), bytes.Count - at);
                var chunk = bytes.GetRange(at, length);
                int to = random.Next(bytes.Count);
                bytes.InsertRange(to, chunk);
                return $"{length} bytes from {at} repeated at {to}";
            }
        }
    }

    private static byte[] RandomBytes(Random random, int count)
    {
        var bytes = new byte[count];
        random.NextBytes(bytes);
        return bytes;
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.ML.Freezing.Tests.MLNet;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using SkiaSharp;
using static Microsoft.ML.Freezing.Tests.Images.TestImages;

namespace Microsoft.ML.Freezing.Tests.Reliability
{
    /// <summary>
    /// Mutated images and mutated model zips, run by test/Microsoft.ML.Freezing.FuzzHost in child processes (one per
    /// batch of cases), so that a native crash ends a child, not the test run. Every case must end in a result or a
    /// managed exception with a message, and every case must have run.
    /// </summary>
    [TestClass]
    public sealed class FuzzTests
    {
        private const int Seed = 7;

        private sealed record Batch(int Ran, int ExitCode, Dictionary<int, string> Outcomes, List<string> Lines,
            string Stderr);

        private static string HostDll()
        {
            string configuration = AppContext.BaseDirectory.Contains(
                $"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";
            string dll = Path.Combine(RepoPaths.Root, "test", "Microsoft.ML.Freezing.FuzzHost", "bin", configuration,
                "net10.0", "Microsoft.ML.Freezing.FuzzHost.dll");
            Assert.IsTrue(File.Exists(dll), $"{dll} was not built");
            return dll;
        }

        private static Batch Run(params string[] args)
        {
            var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            start.ArgumentList.Add(HostDll());
            foreach (var a in args) start.ArgumentList.Add(a);
            using var process = Process.Start(start);
            var stderr = process.StandardError.ReadToEndAsync();
            var lines = new List<string>();
            string line;
            while ((line = process.StandardOutput.ReadLine()) != null)
                lines.Add(line);
            if (!process.WaitForExit(300_000))
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail($"the fuzz host timed out; last lines:\n{string.Join("\n", lines.TakeLast(3))}");
            }
            var outcomes = new Dictionary<int, string>();
            foreach (var l in lines)
            {
                var parts = l.Split(' ', 3);
                if (parts.Length >= 2 && parts[0] != "CASE" && parts[0] != "RAN" && int.TryParse(parts[1], out int i))
                    outcomes[i] = l;
            }
            int ran = lines.Where(l => l.StartsWith("RAN ", StringComparison.Ordinal))
                .Select(l => int.Parse(l.Substring(4))).SingleOrDefault(-1);
            return new Batch(ran, process.ExitCode, outcomes, lines, stderr.Result);
        }

        /// <summary>Runs the batches (two children at a time) and checks that every case ran and ended in an allowed
        /// outcome.</summary>
        private static void RunAll(IReadOnlyList<(int First, int Count, string[] Args)> batches, int expectedCases)
        {
            var results = new Batch[batches.Count];
            Parallel.For(0, batches.Count, new ParallelOptions { MaxDegreeOfParallelism = 2 },
                b => results[b] = Run(batches[b].Args));
            int cases = 0;
            var counts = new Dictionary<string, int>();
            var messages = new Dictionary<string, int>();
            for (int b = 0; b < batches.Count; b++)
            {
                var (first, count, _) = batches[b];
                var result = results[b];
                // A crash: the child died; its last CASE line names the input (replay it with the same
                // first/count/seed).
                string last = result.Lines.LastOrDefault(l => l.StartsWith("CASE ", StringComparison.Ordinal));
                Assert.AreEqual(0, result.ExitCode,
                    $"batch {first}..{first + count - 1} died (exit {result.ExitCode}) during: " +
                    $"{last}\n{result.Stderr}");
                Assert.AreEqual(count, result.Ran, $"batch {first}: {result.Stderr}");
                for (int i = first; i < first + count; i++)
                {
                    Assert.IsTrue(result.Outcomes.TryGetValue(i, out string outcome), $"case {i} has no outcome");
                    Assert.IsFalse(outcome.StartsWith("UNEXPECTED", StringComparison.Ordinal), outcome);
                    string kind = outcome.Split(' ')[0];
                    if (kind == "REJECTED")
                    {
                        string detail = outcome.Split(' ', 3)[2];
                        Assert.IsTrue(
                            detail.Contains(": ", StringComparison.Ordinal)
                            && detail.Split(": ", 2)[1].Trim().Length > 0, $"no message: {outcome}");
                        string type = detail.Split(':')[0];
                        kind += " " + type;
                        string reason = detail.Split(": ", 2)[1];
                        string key = type + ": " + (reason.Length > 110 ? reason.Substring(0, 110) : reason);
                        messages[key] = messages.GetValueOrDefault(key) + 1;
                    }
                    counts[kind] = counts.GetValueOrDefault(kind) + 1;
                    cases++;
                }
            }
            Console.WriteLine(
                $"{cases} cases: " + string.Join(", ", counts.OrderBy(c => c.Key).Select(c => $"{c.Key} {c.Value}")));
            foreach (var (message, n) in messages.OrderByDescending(m => m.Value).Take(25))
                Console.WriteLine($"  {n,4} x {message}");
            Assert.AreEqual(expectedCases, cases);
        }

        [TestMethod]
        public void FourHundredMutatedImagesEndInAnImageOrAnInvalidDataException()
        {
            string seeds = Path.Combine(TinyModel.Folder, "fuzz-seeds-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(seeds);
            var files = new Dictionary<string, byte[]>
            {
                ["png"] = GeneratedImages.Stripes(1, seed: 31)[0].ImageSource,
                ["jpeg"] = Encode(24, 16, (x, y) => Quadrants(x, y, 16), SKEncodedImageFormat.Jpeg),
                ["webp"] = Encode(16, 16, (x, y) => Quadrants(x, y, 16), SKEncodedImageFormat.Webp),
                ["bmp"] = ImageFiles.HugeBmp(8, rows: 8),
                ["gif"] = ImageFiles.HugeGif(8),
                ["exif-jpeg"] = WithExifOrientation(
                    Encode(16, 16, (x, y) => Quadrants(x, y, 16), SKEncodedImageFormat.Jpeg), 6),
            };
            foreach (var converted in BadImages.AllConverted())
                files[converted.Name.Replace(' ', '-')] = converted.Bytes;
            foreach (var (name, bytes) in files)
                File.WriteAllBytes(Path.Combine(seeds, name), bytes);

            var batches = Enumerable.Range(0, 4)
                .Select(b => (b * 100, 100, new[] { "images", seeds, (b * 100).ToString(), "100", Seed.ToString() }))
                .ToList();
            RunAll(batches, 400);
        }

        [TestMethod]
        public void HundredTwentyMutatedModelZipsEndInAModelOrAManagedError()
        {
            string probe = Path.Combine(TinyModel.Folder, "probe.png");
            File.WriteAllBytes(probe, GeneratedImages.Stripes(1, seed: 32)[0].ImageSource);
            string zip = TinyModel.Zip;
            var batches = Enumerable.Range(0, 2)
                .Select(b => (b * 60, 60, new[] { "zips", zip, probe, (b * 60).ToString(), "60", Seed.ToString() }))
                .ToList();
            RunAll(batches, 120);
        }
    }
}

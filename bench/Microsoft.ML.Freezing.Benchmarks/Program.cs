// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.CommandLine;
using System.CommandLine.Parsing;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Text.Json;

namespace Microsoft.ML.Freezing.Benchmarks
{
    /// <summary>
    /// The speed benchmark (issue 5): ours against PyTorch 1.13 (Debian's python3-torch, 2 threads) and ONNX Runtime,
    /// in alternation, several repetitions, medians and ratios. Run it with <c>bash eng/bench.sh [--quick]</c>, which
    /// prepares the peer and the assets first. Each side runs in its own process, so that peak memory is its own; this
    /// process only drives them.
    /// </summary>
    internal static class Program
    {
        private static readonly string Python = "/usr/bin/python3";

        /// <summary>The sections <c>--only</c> chooses from, in the order they run.</summary>
        private static readonly string[] Sections = { "train", "infer", "recipe" };

        // The worker modes: hidden subcommands the driver starts this program with, each side in its own process.
        private const string WorkerOurs = "worker-ours", WorkerOrt = "worker-ort", ExportOnnx = "export-onnx",
            PrepareRecipe = "prepare-recipe", RecipeOurs = "recipe-ours", ColdStartMode = "cold-start";

        private static int Main(string[] args)
        {
            try
            {
                // The cold start is timed from process start, as a Model Builder style app that parses no command
                // line: it runs before System.CommandLine is loaded. (The driver passes exactly these arguments.)
                if (args.Length == 4 && args[0] == ColdStartMode)
                {
                    ColdStart.Run(args[1], args[2], int.Parse(args[3], CultureInfo.InvariantCulture));
                    return 0;
                }
                return ParseAndRun(args);
            }
            catch (Exception ex)
            {
                Console.Error.WriteLine(ex);
                return 1;
            }
        }

        /// <summary>The command line (System.CommandLine): the driver's options, and the worker modes as hidden
        /// subcommands.</summary>
        [MethodImpl(MethodImplOptions.NoInlining)]
        private static int ParseAndRun(string[] args)
        {
            var repoOption = new Option<string>("--repo")
            {
                Description = "The repository (default: the folder holding Freezing.sln above the binaries).",
                HelpName = "folder",
            };
            var quickOption = new Option<bool>("--quick")
            {
                Description = "A smoke test of a few minutes (fewer repetitions, a 128-image recipe).",
            };
            var onlyOption = new Option<string[]>("--only")
            {
                Description = "The sections to run, comma-separated: train (training-step throughput), infer " +
                    "(inference and serving a saved model), recipe (the seed's fine-tuning recipe). Default: all.",
                HelpName = string.Join(",", Sections),
                Arity = ArgumentArity.ExactlyOne,
                CustomParser = ParseSections,
                // Without it an absent array option reads as empty, and no section would run.
                DefaultValueFactory = _ => Sections,
            };
            var root = new RootCommand(
                "The speed benchmark: ours against PyTorch 1.13 and ONNX Runtime, alternating, several repetitions; " +
                "prints medians and ratios. Run it with 'bash eng/bench.sh', which prepares the peers and the data " +
                "first.")
            {
                repoOption, quickOption, onlyOption,
            };
            root.SetAction(parsed => new Driver(parsed.GetValue(repoOption) ?? Driver.FindRepo(),
                parsed.GetValue(quickOption), parsed.GetValue(onlyOption)).Run());

            var weights = new Argument<string>("weights") { Description = "torchvision's ResNet-18 (.pth)." };
            root.Add(Mode(WorkerOurs, "Ours, answering the driver's requests on stdin.", parsed =>
                CommandLoop.Run(new OursWorker(parsed.GetValue(weights)).Handle), weights));
            var onnx = new Argument<string>("onnx") { Description = "An ONNX model of ResNet-18." };
            root.Add(Mode(WorkerOrt, "ONNX Runtime, answering the driver's requests on stdin.", parsed =>
                CommandLoop.Run(new OrtWorker(parsed.GetValue(onnx)).Handle), onnx));
            var exportWeights = new Argument<string>("weights") { Description = "torchvision's ResNet-18 (.pth)." };
            var exportOutput = new Argument<string>("output") { Description = "The ONNX file to write." };
            root.Add(Mode(ExportOnnx, "Our ONNX exporter's graph of the weights.", parsed =>
                ExportOurs(parsed.GetValue(exportWeights), parsed.GetValue(exportOutput)), exportWeights,
                exportOutput));
            var prepareFolder = new Argument<string>("folder") { Description = "The recipe's folder." };
            var trainCount = new Argument<int>("train") { Description = "Training images." };
            var testCount = new Argument<int>("test") { Description = "Test images." };
            root.Add(Mode(PrepareRecipe, "Writes the recipe's data and specification.", parsed =>
                Recipe.Prepare(parsed.GetValue(prepareFolder), parsed.GetValue(trainCount),
                    parsed.GetValue(testCount)), prepareFolder, trainCount, testCount));
            var recipeFolder = new Argument<string>("folder") { Description = "The recipe's folder." };
            var recipeOutput = new Argument<string>("output") { Description = "The JSON result to write." };
            var precision = new Argument<string>("precision")
            {
                Description = "The frozen prefix's precision.",
                DefaultValueFactory = _ => "fp32",
            };
            precision.AcceptOnlyFromAmong("fp32", "bf16");
            root.Add(Mode(RecipeOurs, "Our side of the recipe.", parsed =>
                Recipe.RunOurs(parsed.GetValue(recipeFolder), parsed.GetValue(recipeOutput),
                    bf16Prefix: parsed.GetValue(precision) == "bf16"), recipeFolder, recipeOutput, precision));

            return root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }

        /// <summary>A worker mode: a hidden subcommand that runs <paramref name="run"/> and exits with 0.</summary>
        private static System.CommandLine.Command Mode(string name, string description, Action<ParseResult> run,
            params Argument[] arguments)
        {
            var command = new System.CommandLine.Command(name, description) { Hidden = true };
            foreach (var argument in arguments)
                command.Add(argument);
            command.SetAction(parsed =>
            {
                run(parsed);
                return 0;
            });
            return command;
        }

        /// <summary>"train,infer" into section names, each one of <see cref="Sections"/>.</summary>
        private static string[] ParseSections(ArgumentResult result)
        {
            string[] parts = result.Tokens.Single().Value.Split(',', StringSplitOptions.RemoveEmptyEntries);
            string unknown = parts.Length == 0 ? result.Tokens.Single().Value
                : parts.FirstOrDefault(p => !Sections.Contains(p));
            if (unknown != null)
            {
                result.AddError($"--only: '{unknown}' is not a section ({string.Join(", ", Sections)}).");
                return null;
            }
            return parts;
        }

        /// <summary>Our ONNX exporter's graph of the same weights (logits; RGB 0-255 in, normalisation
        /// inside).</summary>
        private static void ExportOurs(string weightsPath, string onnxPath)
        {
            var weights = PretrainedWeights.FromPyTorch(weightsPath);
            using var network = weights.CreateNetwork(weights.Definition.NumClasses, seed: 0, keepHead: true);
            OnnxExporter.Export(network, weights.Preprocessing, onnxPath,
                new OnnxExportOptions { Output = OnnxExportOutput.Logits });
        }

        private sealed class Driver
        {
            private readonly bool _quick;
            private readonly string _repo;
            private readonly string _work;
            private readonly string _self;
            private readonly string _script;
            private readonly string _weights;
            private readonly HashSet<string> _parts;
            private readonly Dictionary<string, double> _rss = new Dictionary<string, double>();
            private readonly List<string> _summary = new List<string>();
            private double _sgemm = double.NaN;
            private double _ortGflops = double.NaN;
            private double _ortRss = double.NaN;
            private double _zipRatio = double.NaN;

            public Driver(string repo, bool quick, IEnumerable<string> parts)
            {
                _quick = quick;
                _repo = repo;
                _parts = new HashSet<string>(parts);
                _work = Path.Combine(_repo, "artifacts", "bench");
                Directory.CreateDirectory(_work);
                _self = typeof(Program).Assembly.Location;
                _script = Path.Combine(_repo, "eng", "bench_pytorch.py");
                _weights = Path.Combine(BenchPaths.Asset("torchvision"), "resnet18.pth");
            }

            public static string FindRepo()
            {
                for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
                    if (File.Exists(Path.Combine(dir.FullName, "Freezing.sln")))
                        return dir.FullName;
                throw new InvalidOperationException("Cannot find the repository (Freezing.sln); pass --repo.");
            }

            private IEnumerable<string> Dotnet(params string[] args) => new[] { _self }.Concat(args);

            private WorkerProcess Ours()
                => new WorkerProcess("ours", "dotnet", Dotnet(WorkerOurs, _weights),
                Path.Combine(_work, "ours.log"));
            private WorkerProcess PyTorch()
                => new WorkerProcess("pytorch", Python, new[] { _script, "worker", _weights },
                Path.Combine(_work, "pytorch.log"));

            public int Run()
            {
                if (!File.Exists(_weights))
                    throw new FileNotFoundException(
                        $"{_weights} is missing: run eng/torchvision-references.sh (eng/bench.sh does).");
                var clock = Stopwatch.StartNew();
                Console.WriteLine(
                    $"Microsoft.ML.Freezing speed benchmark ({(_quick ? "quick" : "full")} mode), " +
                    $"{DateTime.Now:yyyy-MM-dd HH:mm}");
                Console.WriteLine(
                    $"CPU: {CpuModel()}, {Environment.ProcessorCount} logical cores; load average at start: " +
                    $"{Stats.Load()} (other processes share this machine: compare ratios, not absolute numbers)");
                Console.WriteLine(
                    "Every side runs with 2 threads in its own process; sides alternate within each repetition. " +
                    $"Logs: {_work}");

                if (_parts.Contains("train")) Training();
                if (_parts.Contains("infer")) Inference();
                if (_parts.Contains("infer")) Serving();
                if (_parts.Contains("recipe")) RecipeRuns();

                Console.WriteLine();
                Console.WriteLine("== Peak resident memory (VmHWM of each process)");
                foreach (var (name, mb) in _rss)
                    Console.WriteLine($"  {name,-50} {mb,8:F0} MB");
                Console.WriteLine();
                Console.WriteLine("== Summary (median of per-repetition ratios, ours / peer)");
                foreach (var line in _summary)
                    Console.WriteLine("  " + line);
                Console.WriteLine($"Load average at end: {Stats.Load()}; took {clock.Elapsed.TotalMinutes:F1} min.");
                return 0;
            }

            private static string CpuModel()
            {
                try
                {
                    var line = File.ReadLines("/proc/cpuinfo")
                        .FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
                    string flags = File.ReadLines("/proc/cpuinfo")
                        .FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal)) ?? "";
                    // The features that change oneDNN's kernels (VP2INTERSECT: the CPUs where its strided 1x1
                    // channels-last convolution was wrong).
                    var features = new[] { "avx512f", "avx512_bf16", "avx512_vp2intersect" }
                        .Where(f => flags.Split(' ').Contains(f))
                        .Select(f => f == "avx512f" ? "AVX-512" : f.ToUpperInvariant()).ToList();
                    if (features.Count > 0 && !flags.Contains("avx512_vp2intersect"))
                        features.Add("no VP2INTERSECT");
                    return (line?.Split(':')[1].Trim() ?? "?") +
                        (features.Count > 0 ? $" ({string.Join(", ", features)})" : "");
                }
                catch (IOException)
                {
                    return "?";
                }
            }

            private void Target(string what, double ratio, double target, string unit = "x")
            {
                string verdict = double.IsNaN(ratio) ? "" : ratio >= target ? "meets" : "misses";
                _summary.Add($"{what,-52} {Stats.F(ratio, 2),6}{unit}   target >= {target:F2}{unit}: {verdict}");
            }

            private void TargetAtMost(string what, double value, double target, string unit = "x")
            {
                string verdict = double.IsNaN(value) ? "" : value <= target ? "meets" : "misses";
                int decimals = unit == "x" ? 2 : 0;
                _summary.Add($"{what,-52} {Stats.F(value, decimals),6}{unit}   target <= " +
                    $"{target.ToString(unit == "x" ? "F2" : "F0")}{unit}: {verdict}");
            }

            // 1. Training-step throughput.
            private void Training()
            {
                int reps = _quick ? 3 : 7, steps = _quick ? 1 : 2;
                Console.WriteLine();
                Console.WriteLine(
                    $"== 1. Training-step throughput: ResNet-18, 224 px, batch 32, SGD momentum, fp32 ({reps} " +
                    $"repetitions of {steps} step(s) each, after a warm-up step)");
                Console.WriteLine(
                    "   ours: FineTuner (frozen prefix folded, under no_grad; activation cache off); PyTorch: " +
                    "requires_grad flips, frozen BN in eval");
                using var ours = Ours();
                using var peer = PyTorch();
                Console.WriteLine($"   ours: {ours.Ask("info")}; peer: {peer.Ask("info")}");
                _sgemm = ours.Ask("sgemm").GetProperty("gflops").GetDouble();
                var series = new Series();
                foreach (var @case in new[] { "full", "layer4", "head" })
                {
                    for (int r = 0; r < reps; r++)
                    {
                        var order = r % 2 == 0 ? new[] { ours, peer } : new[] { peer, ours };
                        foreach (var side in order)
                            series.Add($"{side.Name}:{@case}",
                                side.Ask($"train {@case} {steps}").GetProperty("img_s").GetDouble());
                    }
                }
                Console.WriteLine(
                    $"   {"case",-22} {"ours img/s",12} {"PyTorch img/s",14} {"ratio of medians",17} " +
                    $"{"median ratio",13}");
                foreach (var (@case, label) in new[] { ("full", "full network"), ("layer4", "layer4 + head"),
                    ("head", "head only") })
                {
                    var o = series[$"ours:{@case}"];
                    var p = series[$"pytorch:{@case}"];
                    double ratio = Stats.PairedRatio(o, p);
                    Console.WriteLine(
                        $"   {label,-22} {Stats.F(Stats.Median(o)),12} {Stats.F(Stats.Median(p)),14} " +
                        $"{Stats.F(Stats.Median(o) / Stats.Median(p), 2),17} {Stats.F(ratio, 2),13}   ours " +
                        $"{series.Spread($"ours:{@case}")} peer {series.Spread($"pytorch:{@case}")}");
                    Target($"training step, {label}, vs PyTorch", ratio, 0.95);
                }
                _rss["ours, training steps (3 networks)"] = ours.Quit();
                _rss["PyTorch, training steps (3 networks)"] = peer.Quit();
            }

            // The ResNet-18 whose forward pass measures ONNX Runtime's rate: torchvision's, 224 px, 1000 classes.
            private static double OrtGflopPerImage
                => 2 * Recipe.ForwardMacs(new[] { 2, 2, 2, 2 }, 1000, 224).Values.Sum() / 1e9;

            // PyTorch's ONNX export of the benchmark's ResNet-18 (made once, again when the weights are newer).
            private string PeerOnnx()
            {
                string onnx = Path.Combine(_work, "resnet18.onnx");
                if (!File.Exists(onnx) || File.GetLastWriteTimeUtc(onnx) < File.GetLastWriteTimeUtc(_weights))
                    WorkerProcess.RunToEnd(Python, new[] { _script, "export", _weights, onnx },
                        Path.Combine(_work, "export.log"), TimeSpan.FromMinutes(10));
                return onnx;
            }

            // ONNX Runtime's GFLOP/s on PyTorch's export, batch 32, 2 threads: from the inference section when it ran,
            // else measured now (5 samples of 2 batches), so that the recipe's bound never goes missing.
            private double OrtGflops()
            {
                if (!double.IsNaN(_ortGflops))
                    return _ortGflops;
                using var ort = new WorkerProcess("onnxruntime", "dotnet", Dotnet(WorkerOrt, PeerOnnx()),
                    Path.Combine(_work, "ort.log"));
                var samples = Enumerable.Range(0, 5).Select(_ => ort.Ask("infer 2").GetProperty("img_s").GetDouble())
                    .ToList();
                _ortGflops = Stats.Median(samples) * OrtGflopPerImage;
                Console.WriteLine("   ONNX Runtime's rate, measured for the bound (the inference section did not " +
                    $"run): {_ortGflops:F0} GFLOP/s on PyTorch's export");
                return _ortGflops;
            }

            // 2. Inference.
            private void Inference()
            {
                int reps = _quick ? 3 : 7, batches = _quick ? 1 : 2, images = _quick ? 64 : 128;
                int latencyCount = _quick ? 10 : 30;
                Console.WriteLine();
                Console.WriteLine(
                    $"== 2. Inference: ResNet-18, 224 px, batch 32, fp32 unless noted ({reps} repetitions; {batches} " +
                    $"batch(es) per bare-network sample, {images} images per Transform sample)");
                string onnx = PeerOnnx();
                string ourOnnx = Path.Combine(_work, "resnet18-ours.onnx");
                WorkerProcess.RunToEnd("dotnet", Dotnet(ExportOnnx, _weights, ourOnnx),
                    Path.Combine(_work, "export.log"), TimeSpan.FromMinutes(10));
                using var ours = Ours();
                using var peer = PyTorch();
                using var ort = new WorkerProcess("onnxruntime", "dotnet", Dotnet(WorkerOrt, onnx),
                    Path.Combine(_work, "ort.log"));
                using var ortOurs = new WorkerProcess("onnxruntime-ours", "dotnet", Dotnet(WorkerOrt, ourOnnx),
                    Path.Combine(_work, "ort-ours.log"));
                Console.WriteLine(
                    "   ONNX models: PyTorch's exporter (torch.onnx.export, opset 13) and ours (OnnxExporter, opset " +
                    $"{OnnxExporter.OpsetVersion}), both with a dynamic batch axis; {ort.Ask("info")}; ONNX Runtime " +
                    "sessions: 2 intra-op threads that do not spin, all graph optimisations, sequential, arena on " +
                    "(ours and the peer's alike)");
                var runs = new List<(string Key, string Label, WorkerProcess Side, string Command)>
                {
                    ("transform", "ours: Transform over encoded JPEGs (decode incl.)", ours,
                        $"transform transform {images}"),
                    ("transform-torchsharp", "ours: the same, InferenceEngine.TorchSharp", ours,
                        $"transform transform-torchsharp {images}"),
                    ("score", "ours: Model.Score (default engine, ONNX Runtime)", ours, $"score onnxruntime {batches}"),
                    ("folded", "ours: bare network, TorchSharp fold (channels-last)", ours, $"infer folded {batches}"),
                    ("bf16", "ours: bare network, bfloat16 fold (opt-in)", ours, $"infer bf16 {batches}"),
                    ("pytorch", "PyTorch 1.13 eval, no_grad", peer, $"infer {batches}"),
                    ("ort", "ONNX Runtime (PyTorch's export)", ort, $"infer {batches}"),
                    ("ort-ours", "ONNX Runtime (our OnnxExporter's export)", ortOurs, $"infer {batches}"),
                };
                var series = new Series();
                for (int r = 0; r < reps; r++)
                {
                    // Rotate the order so that no side always runs first.
                    for (int i = 0; i < runs.Count; i++)
                    {
                        var run = runs[(i + r) % runs.Count];
                        series.Add(run.Key, run.Side.Ask(run.Command).GetProperty("img_s").GetDouble());
                    }
                }
                Console.WriteLine($"   {"",-52} {"img/s",7} {"vs ORT",7} {"vs PyTorch",10}  spread");
                foreach (var run in runs)
                {
                    var s = series[run.Key];
                    Console.WriteLine(
                        $"   {run.Label,-52} {Stats.F(Stats.Median(s)),7} " +
                        $"{Stats.F(Stats.PairedRatio(s, series["ort"]), 2),7} " +
                        $"{Stats.F(Stats.PairedRatio(s, series["pytorch"]), 2),10}  {series.Spread(run.Key)}");
                }
                _ortGflops = Stats.Median(series["ort"]) * OrtGflopPerImage;
                Console.WriteLine(
                    $"   ONNX Runtime computes {_ortGflops:F0} GFLOP/s here ({OrtGflopPerImage:F2} GFLOP per image); " +
                    "the " +
                    "ONNX Runtime engine bought " +
                    $"{Stats.F(Stats.PairedRatio(series["transform"], series["transform-torchsharp"]), 2)}x on " +
                    "Transform over TorchSharp");

                // Latency: one image at a time.
                var latency = new Series();
                for (int r = 0; r < reps; r++)
                {
                        var order = new[]
                    {
                        ("ours", ours, $"latency onnxruntime {latencyCount}"),
                        ("ort", ort, $"latency {latencyCount}"),
                        ("ours-torchsharp", ours, $"latency torchsharp {latencyCount}"),
                    };
                    foreach (var (key, side, command) in r % 2 == 0 ? order : order.Reverse())
                    {
                        var answer = side.Ask(command);
                        latency.Add(key, answer.GetProperty("ms").GetDouble());
                        if (answer.TryGetProperty("decode_ms", out var decode))
                            latency.Add("decode", decode.GetDouble());
                    }
                }
                double oursMs = Stats.Median(latency["ours"]), ortMs = Stats.Median(latency["ort"]);
                double decodeMs = Stats.Median(latency["decode"]);
                Console.WriteLine(
                    $"   latency, one image (median of {latencyCount} x {reps}): PredictionEngine on an encoded JPEG " +
                    $"{oursMs:F1} ms (of which decoding and resizing {decodeMs:F1} ms), with TorchSharp " +
                    $"{Stats.Median(latency["ours-torchsharp"]):F1} ms; ONNX Runtime batch 1 on PyTorch's export, " +
                    $"pixels ready: {ortMs:F1} ms");
                Target("Model.Score (ONNX Runtime engine) vs ONNX Runtime",
                    Stats.PairedRatio(series["score"], series["ort"]), 1.0);
                Target("Transform with decoding vs ONNX Runtime", Stats.PairedRatio(series["transform"], series["ort"]),
                    0.85);
                Target("bare network, TorchSharp fold, vs PyTorch eval",
                    Stats.PairedRatio(series["folded"], series["pytorch"]), 1.0);
                TargetAtMost("PredictionEngine latency / ONNX Runtime batch 1",
                    Stats.PairedRatio(latency["ours"], latency["ort"]), 1.2);
                _summary.Add(
                    $"{"  the same without decoding (latency - decoding)",-52} {(oursMs - decodeMs) / ortMs,6:F2}x");
                _summary.Add(
                    $"{"(opt-in) bfloat16 fold vs ONNX Runtime",-52} " +
                    $"{Stats.F(Stats.PairedRatio(series["bf16"], series["ort"]), 2),6}x");

                // The saved model for the cold-start section.
                var saved = ours.Ask($"save {ZipPath}");
                _zipRatio = saved.GetProperty("zip_bytes").GetDouble() / saved.GetProperty("weight_bytes").GetDouble();
                _rss["ours, inference worker (every variant)"] = ours.Quit();
                _rss["PyTorch, inference"] = peer.Quit();
                _ortRss = ort.Quit();
                _rss["ONNX Runtime, inference"] = _ortRss;
                _rss["ONNX Runtime, inference (our export)"] = ortOurs.Quit();
            }

            private string ZipPath => Path.Combine(_work, "resnet18-model.zip");

            // 4. Serving: cold start, size, memory.
            private void Serving()
            {
                int runs = _quick ? 2 : 5;
                Console.WriteLine();
                Console.WriteLine(
                    "== 4. Serving a saved ResNet-18 model (224 px): cold start, size, memory " +
                    $"({runs} fresh processes " +
                    "after one warm-up)");
                if (!File.Exists(ZipPath))
                {
                    Console.WriteLine("   skipped: the inference section saves the model; run it too.");
                    return;
                }
                string photo = Path.Combine(_work, "photo.jpg");
                File.WriteAllBytes(photo, Data.Photos(1)[0].ImageSource);
                var results = new List<JsonElement>();
                var walls = new List<double>();
                for (int r = 0; r <= runs; r++)
                {
                    string output = Path.Combine(_work, "cold-start.json");
                    var clock = Stopwatch.StartNew();
                    WorkerProcess.RunToEnd("dotnet", Dotnet(ColdStartMode, ZipPath, photo, "64"), output,
                        TimeSpan.FromMinutes(5), append: false);
                    double wall = clock.Elapsed.TotalMilliseconds;
                    if (r == 0)
                        continue; // the warm-up: it puts the files in the page cache
                    walls.Add(wall);
                    results.Add(JsonDocument.Parse(File.ReadLines(output).Last(l => l.StartsWith('{')))
                        .RootElement.Clone());
                }
                double Median(string name) => Stats.Median(results.Select(o => o.GetProperty(name).GetDouble()));
                double first = Median("first_prediction_ms");
                Console.WriteLine(
                    "   process start to first prediction (mlContext.Model.Load, CreatePredictionEngine, Predict on " +
                    $"a JPEG; page cache warm, a previous run read the same files): {first:F0} ms median; runtime " +
                    $"start to Main {Median("main_ms"):F0} ms, Model.Load done at {Median("loaded_ms"):F0} ms, " +
                    $"PredictionEngine at {Median("engine_ms"):F0} ms; CPU time to the first prediction " +
                    $"{Median("first_prediction_cpu_ms"):F0} ms (all threads); second prediction " +
                    $"{Median("second_prediction_ms"):F0} ms; whole process {Stats.Median(walls):F0} ms");
                double peak = results.Max(o => o.GetProperty("vmhwm_kb").GetDouble()) / 1024;
                double predictPeak = results.Max(o => o.GetProperty("vmhwm_predict_kb").GetDouble()) / 1024;
                _rss["ours, serving a saved model (Predict, Transform)"] = peak;
                Console.WriteLine(
                    $"   model zip {new FileInfo(ZipPath).Length / 1e6:F1} MB, {_zipRatio:F2}x its float32 weights; " +
                    $"peak memory {predictPeak:F0} MB after the first predictions, {peak:F0} MB after Transform " +
                    $"(ONNX Runtime's inference worker: {_ortRss:F0} MB)");
                TargetAtMost("cold start: process start to first prediction (ms)", first, 1500, " ms");
                _summary.Add($"{"  CPU time to the first prediction (all threads)",-52} " +
                    $"{Median("first_prediction_cpu_ms"),6:F0} ms");
                TargetAtMost("saved model zip / float32 weights", _zipRatio, 1.15);
                TargetAtMost("serving peak memory / ONNX Runtime's", double.IsNaN(_ortRss) ? double.NaN
                    : peak / _ortRss, 1.3);
            }

            // 3. The seed's recipe.
            private void RecipeRuns()
            {
                int reps = _quick ? 1 : 3, train = _quick ? 128 : 600, test = _quick ? 64 : 400;
                string folder = Path.Combine(_work, "recipe");
                Console.WriteLine();
                Console.WriteLine(
                    $"== 3. The seed's recipe: {train} images at 224 (epoch 0 head only, 1 thaws layer4, 2 thaws " +
                    $"layer3; batch 32, SGD momentum 0.9, lr 0.01, fp32, frozen BN in eval); {test} test images; " +
                    $"{reps} repetition(s)");
                WorkerProcess.RunToEnd("dotnet", Dotnet(PrepareRecipe, folder, train.ToString(), test.ToString()),
                    Path.Combine(_work, "prepare.log"), TimeSpan.FromMinutes(20));
                var spec = Recipe.ReadSpec(folder);
                Console.WriteLine(
                    $"   data: {spec.data}; weights: {spec.weights} (ResNet [{string.Join(",", spec.depths)}]), same " +
                    "initial head on both sides");
                Console.WriteLine(
                    "   ours: the ML.NET trainer end to end from encoded PNGs (decode, activation cache, folded " +
                    "prefix); PyTorch: by hand, pixels pre-decoded and normalised in RAM (not timed), same example " +
                    "order as ours");
                var ours = new List<JsonElement>();
                var peer = new List<JsonElement>();
                // the opt-in bfloat16 frozen prefix: reported beside, not the target
                var oursBf16 = new List<JsonElement>();
                for (int r = 0; r < reps; r++)
                {
                    var sides = (r % 3) switch
                    {
                        0 => new[] { "ours", "pytorch", "ours-bf16" },
                        1 => new[] { "pytorch", "ours-bf16", "ours" },
                        _ => new[] { "ours-bf16", "ours", "pytorch" },
                    };
                    foreach (var side in sides)
                    {
                        string output = Path.Combine(folder, $"{side}-{r}.json");
                        File.Delete(output);
                        if (side == "pytorch")
                            WorkerProcess.RunToEnd(Python, new[] { _script, "recipe", folder, output },
                                Path.Combine(_work, "recipe-pytorch.log"), TimeSpan.FromMinutes(60));
                        else
                            WorkerProcess.RunToEnd("dotnet",
                                Dotnet(RecipeOurs, folder, output, side == "ours-bf16" ? "bf16" : "fp32"),
                                Path.Combine(_work, $"recipe-{side}.log"), TimeSpan.FromMinutes(60));
                        var result = JsonDocument.Parse(File.ReadAllText(output)).RootElement.Clone();
                        (side == "ours" ? ours : side == "pytorch" ? peer : oursBf16).Add(result);
                        Console.WriteLine(
                            $"   rep {r} {side,-8} {result.GetProperty("train_seconds").GetDouble(),7:F1} s  " +
                            $"accuracy {result.GetProperty("accuracy").GetDouble():P1}  epochs: " +
                            string.Join(", ",
                                result.GetProperty("epochs").EnumerateArray()
                                .Select(e => $"{e.GetProperty("seconds").GetDouble():F1} s")));
                    }
                }
                double oursSeconds = Stats.Median(ours.Select(o => o.GetProperty("train_seconds").GetDouble()));
                double peerSeconds = Stats.Median(peer.Select(o => o.GetProperty("train_seconds").GetDouble()));
                double speedup = Stats.Median(
                    ours.Zip(peer,
                    (o, p) => p.GetProperty("train_seconds").GetDouble() / o.GetProperty("train_seconds").GetDouble()));
                double oursAccuracy = Stats.Median(ours.Select(o => o.GetProperty("accuracy").GetDouble()));
                double peerAccuracy = Stats.Median(peer.Select(o => o.GetProperty("accuracy").GetDouble()));

                // The arithmetic lower bound: one forward pass of the whole network (it fills the cache), then only the
                // thawed stages train (forward + backward ~ 3x the forward's multiply-adds) from cached activations.
                var macs = Recipe.ForwardMacs(spec.depths, spec.classes, spec.image_size);
                double Flops(params ResNetStage[] stages) => 2 * stages.Sum(s => macs[s]);
                double full = Flops(ResNetStages.All);
                double perImage = full + 3 * Flops(ResNetStage.Head)
                    + 3 * Flops(ResNetStage.Layer4, ResNetStage.Head)
                    + 3 * Flops(ResNetStage.Layer3, ResNetStage.Layer4, ResNetStage.Head);
                double peerPerImage = full + 3 * Flops(ResNetStage.Head)
                    + Flops(ResNetStage.Stem, ResNetStage.Layer1, ResNetStage.Layer2, ResNetStage.Layer3) +
                    3 * Flops(ResNetStage.Layer4, ResNetStage.Head)
                    + Flops(ResNetStage.Stem, ResNetStage.Layer1, ResNetStage.Layer2) +
                    3 * Flops(ResNetStage.Layer3, ResNetStage.Layer4, ResNetStage.Head);
                double total = perImage * spec.train_count;
                const double DesignPeak = 300e9;
                _sgemm = ours.Select(o => o.GetProperty("sgemm_gflops").GetDouble())
                    .Append(double.IsNaN(_sgemm) ? 0 : _sgemm).Max();
                double measuredPeak = _sgemm * 1e9;
                Console.WriteLine($"   {"",-10} {"train s",8} {"accuracy",9}");
                Console.WriteLine($"   {"ours",-10} {oursSeconds,8:F1} {oursAccuracy,9:P1}");
                Console.WriteLine($"   {"PyTorch",-10} {peerSeconds,8:F1} {peerAccuracy,9:P1}");
                double bf16Seconds = Stats.Median(oursBf16.Select(o => o.GetProperty("train_seconds").GetDouble()));
                double bf16Accuracy = Stats.Median(oursBf16.Select(o => o.GetProperty("accuracy").GetDouble()));
                double bf16Speedup = Stats.Median(
                    oursBf16.Zip(peer,
                    (o, p) => p.GetProperty("train_seconds").GetDouble() / o.GetProperty("train_seconds").GetDouble()));
                Console.WriteLine(
                    $"   {"ours bf16",-10} {bf16Seconds,8:F1} {bf16Accuracy,9:P1}   (opt-in FrozenPrefixPrecision = " +
                    "BFloat16; scoring stays fp32)");
                Console.WriteLine(
                    $"   speed-up (median of per-repetition ratios): {speedup:F2}x; accuracy difference " +
                    $"{100 * (oursAccuracy - peerAccuracy):+0.0;-0.0} points");
                Console.WriteLine(
                    $"   with the bfloat16 frozen prefix: {bf16Speedup:F2}x; accuracy difference " +
                    $"{100 * (bf16Accuracy - peerAccuracy):+0.0;-0.0} points");
                Console.WriteLine(
                    $"   arithmetic: {full / 1e9:F2} GFLOP per image forward; the recipe with caching needs " +
                    $"{perImage / 1e9:F2} GFLOP per image (without: {peerPerImage / 1e9:F2}, so caching alone is " +
                    $"worth {peerPerImage / perImage:F2}x)");
                Console.WriteLine(
                    $"   lower bound for {spec.train_count} images: {total / 1e12:F2} TFLOP = " +
                    $"{total / DesignPeak:F1} s at 300 GFLOP/s (the design's fp32 peak)" +
                    $", {total / measuredPeak:F1} s at the best sgemm rate measured during this run ({_sgemm:F0} " +
                    "GFLOP/s, 2048x2048 fp32)");
                Console.WriteLine(
                    $"   ours takes {oursSeconds / (total / DesignPeak):F1}x the bound at 300 GFLOP/s and " +
                    $"{oursSeconds / (total / measuredPeak):F1}x the bound at the sgemm rate; PyTorch " +
                    $"{peerSeconds / (total / DesignPeak):F1}x and {peerSeconds / (total / measuredPeak):F1}x");
                double ortBound = total / (OrtGflops() * 1e9);
                Console.WriteLine(
                    $"   at ONNX Runtime's rate in this run ({Stats.F(_ortGflops, 0)} GFLOP/s on the ResNet-18 " +
                    "forward " +
                    $"pass) the bound is {Stats.F(ortBound)} s: ours takes {Stats.F(oursSeconds / ortBound, 2)}x it, " +
                    $"PyTorch {Stats.F(peerSeconds / ortBound, 2)}x, ours with the bf16 prefix " +
                    $"{Stats.F(bf16Seconds / ortBound, 2)}x");
                var bf = ours.Last();
                Console.WriteLine(
                    "   bfloat16 (opt-in) on the trained network's test set: accuracy " +
                    $"{bf.GetProperty("accuracy_bf16_fold").GetDouble():P1} vs fp32 " +
                    $"{bf.GetProperty("accuracy_fp32_fold").GetDouble():P1}, " +
                    $"same prediction for {bf.GetProperty("bf16_agreement").GetDouble():P1} of images; " +
                    $"{bf.GetProperty("bf16_fold_img_s").GetDouble():F0} vs " +
                    $"{bf.GetProperty("fp32_fold_img_s").GetDouble():F0} img/s");
                Target("recipe speed-up vs PyTorch (accuracy within 2 points)",
                    Math.Abs(oursAccuracy - peerAccuracy) <= 0.02 ? speedup : double.NaN, 2.0);
                TargetAtMost("recipe: ours / lower bound at ONNX Runtime's GFLOP/s",
                    Math.Abs(oursAccuracy - peerAccuracy) <= 0.02 ? oursSeconds / ortBound : double.NaN, 1.3);
                _summary.Add(
                    $"{"recipe: ours / arithmetic lower bound at 300 GFLOP/s",-52} " +
                    $"{oursSeconds / (total / DesignPeak),6:F2}x");
                _summary.Add(
                    $"{"recipe, opt-in bf16 frozen prefix: speed-up vs PyTorch",-52} {bf16Speedup,6:F2}x (accuracy " +
                    $"{100 * (bf16Accuracy - peerAccuracy):+0.0;-0.0} points)");
                _rss["ours bf16 prefix, recipe (max over repetitions)"] = oursBf16.Max(
                    o => o.GetProperty("vmhwm_kb").GetDouble()) / 1024;
                _rss["ours, recipe (max over repetitions)"] = ours.Max(
                    o => o.GetProperty("vmhwm_kb").GetDouble()) / 1024;
                _rss["PyTorch, recipe (max over repetitions)"] = peer.Max(
                    o => o.GetProperty("vmhwm_kb").GetDouble()) / 1024;
            }
        }
    }
}

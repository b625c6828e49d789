// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using Microsoft.ML.Freezing.Tests.MLNet;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests
{
    /// <summary>
    /// The sample console app (src/Samples) end to end, as a user runs it: a separate process trains on a generated
    /// image folder, then predicts and evaluates with the saved model. The test project builds the sample first
    /// (ProjectReference with ReferenceOutputAssembly="false").
    /// </summary>
    [TestClass]
    public sealed class SampleTests
    {
        // Enough for the sample's 20% test split and then (50 or more left) the trainer's validation split.
        private const int ImagesPerClass = 40;

        [TestMethod]
        public void TrainWritesModelAndCurveThenPredictAndEvaluateUseIt()
        {
            string dir = Path.Combine(Path.GetTempPath(), "frozen-resnet-sample-" + Guid.NewGuid().ToString("N"));
            try
            {
                string data = WriteImageFolder(Path.Combine(dir, "data"), ImagesPerClass, seed: 7);
                // What a folder unzipped from macOS holds beside the images (undecodable companions) and a class
                // folder left empty: not classes, not rows.
                Directory.CreateDirectory(Path.Combine(data, "__MACOSX", "vertical"));
                File.WriteAllText(Path.Combine(data, "__MACOSX", "vertical", "._00.png"), "Mac OS X resource fork");
                File.WriteAllText(Path.Combine(data, "vertical", "._00.png"), "Mac OS X resource fork");
                Directory.CreateDirectory(Path.Combine(data, "empty"));
                string output = Path.Combine(dir, "out");
                string zip = Path.Combine(output, "model.zip");

                var (code, text) = RunSample("train", "--data", data, "--out", zip, "--weights", "none", "--size", "32",
                    "--epochs", "1", "--batch", "8");
                Assert.AreEqual(0, code, text);
                StringAssert.Contains(text, $"{2 * ImagesPerClass} images (horizontal {ImagesPerClass}, vertical " +
                    $"{ImagesPerClass})");
                StringAssert.Contains(text, "Note: the class folder 'empty' holds no images; it is left out.");
                StringAssert.Contains(text, "Note: 2 image files under");
                Assert.IsTrue(File.Exists(zip), text);
                string png = Path.Combine(output, "model.png");
                Assert.IsTrue(File.Exists(png), text);
                CollectionAssert.AreEqual(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' },
                    File.ReadAllBytes(png).Take(4).ToArray(), "model.png is not a PNG");
                Assert.AreEqual(0, Directory.GetFiles(output, "*.tmp-*").Length, "a temporary file was left behind");
                StringAssert.Matches(text,
                    new Regex(@"^epoch 0 \(1 of 1\) .*train loss \d+\.\d+ acc .*val loss \d+\.\d+ .*img/s",
                    RegexOptions.Multiline));
                StringAssert.Contains(text, "confusion matrix");

                string image = Path.Combine(data, "vertical", "00.png");
                (code, text) = RunSample("predict", "--model", zip, image);
                Assert.AreEqual(0, code, text);
                StringAssert.Matches(text,
                    new Regex(
                    "^" + Regex.Escape(image) +
                    @": (horizontal|vertical) [01]\.\d{3}  (horizontal|vertical) [01]\.\d{3}\s*$",
                    RegexOptions.Multiline));
                // No native warning reaches the user (libtorch's "[W...] Could not initialize NNPACK!" and the like).
                Assert.IsFalse(Regex.IsMatch(text, @"NNPACK|^\[W[ 0-9]", RegexOptions.Multiline), text);

                (code, text) = RunSample("evaluate", "--model", zip, "--data", data);
                Assert.AreEqual(0, code, text);
                StringAssert.Matches(text, new Regex($@"\({2 * ImagesPerClass} images\)"));
                StringAssert.Contains(text, "micro accuracy");

                // One class in the data: the class prior's log-loss is 0, so the reduction has no value to print.
                string oneClass = Path.Combine(dir, "one-class", "vertical");
                Directory.CreateDirectory(oneClass);
                foreach (var file in Directory.GetFiles(Path.Combine(data, "vertical"), "0*.png"))
                    File.Copy(file, Path.Combine(oneClass, Path.GetFileName(file)));
                (code, text) = RunSample("evaluate", "--model", zip, "--data", Path.GetDirectoryName(oneClass));
                Assert.AreEqual(0, code, text);
                StringAssert.Matches(text, new Regex(@"^  log-loss reduction +n/a$", RegexOptions.Multiline));
            }
            finally
            {
                if (Directory.Exists(dir))
                    Directory.Delete(dir, recursive: true);
            }
        }

        [TestMethod]
        public void ABrokenImageFileIsNamedByPathOrSkippedWhenAsked()
        {
            string dir = Path.Combine(Path.GetTempPath(), "frozen-resnet-sample-" + Guid.NewGuid().ToString("N"));
            try
            {
                string data = WriteImageFolder(Path.Combine(dir, "data"), 8, seed: 8);
                string broken = Path.Combine(data, "vertical", "05.png");
                File.WriteAllText(broken, "a caption, not a picture");
                string zip = Path.Combine(dir, "out", "model.zip");
                string[] train = { "train", "--data", data, "--out", zip, "--weights", "none", "--size", "32",
                    "--epochs", "1", "--batch", "8" };

                var (code, text) = RunSample(train);
                Assert.AreEqual(1, code, text);
                StringAssert.Contains(text, $"Cannot read the image '{broken}'");
                StringAssert.Contains(text, "--invalid-images skip");
                Assert.IsFalse(File.Exists(zip), "a model was saved although training failed");

                (code, text) = RunSample(train.Concat(new[] { "--invalid-images", "skip" }).ToArray());
                Assert.AreEqual(0, code, text);
                // 16 images are too few to set a test split aside; the sample says what that means for its report.
                StringAssert.Matches(text, new Regex(
                    "^No test split: .*; every image goes to the trainer, and no test metrics are reported\\.$",
                    RegexOptions.Multiline));
                StringAssert.Contains(text, "Skipped 1 rows");
                Assert.IsTrue(File.Exists(zip), text);

                (code, text) = RunSample("predict", "--model", zip, Path.Combine(data, "vertical"));
                Assert.AreEqual(1, code, text);
                StringAssert.Matches(text,
                    new Regex("^" + Regex.Escape(broken) + ": cannot read the image: ", RegexOptions.Multiline));
                StringAssert.Matches(text,
                    new Regex(
                    "^" + Regex.Escape(Path.Combine(data, "vertical", "04.png")) +
                    @": (horizontal|vertical) [01]\.\d{3}", RegexOptions.Multiline));

                (code, text) = RunSample("evaluate", "--model", zip, "--data", data);
                Assert.AreEqual(1, code, text);
                StringAssert.Contains(text, $"Cannot read the image '{broken}'");
            }
            finally
            {
                if (Directory.Exists(dir))
                    Directory.Delete(dir, recursive: true);
            }
        }

        [TestMethod]
        public void BadArgumentsGiveUsageAndExitCode2()
        {
            var (code, text) = RunSample("train", "--epochs", "zero");
            Assert.AreEqual(2, code, text);
            StringAssert.Contains(text, "--epochs");
            StringAssert.Contains(text, "Usage:");
        }

        [TestMethod]
        public void InfoDescribesTheNetworkThatTrainTrains()
        {
            // By default train starts from ML.NET's ResNet-18, whose layer4 has three blocks, not torchvision's two.
            var (code, text) = RunSample("info", "--classes", "2");
            Assert.AreEqual(0, code, text);
            StringAssert.Contains(text, "ML.NET ResNet-18 (ImageNet): Basic [2,2,2,3]");
            (code, text) = RunSample("info", "--weights", "none", "--classes", "2");
            Assert.AreEqual(0, code, text);
            StringAssert.Contains(text, "ResNet18, random init: Basic [2,2,2,2]");
        }

        [TestMethod]
        public void AFailedFetchScriptEndsWithItsNameAndNoStackTrace()
        {
            // A home folder that cannot be created: the Keras weights are not there, and the script that fetches them
            // fails (at npm or at mkdir).
            var (code, text) = RunSample(new[] { ("FREEZING_HOME", "/proc/no-such-home") }, "info", "--arch",
                "resnet50");
            Assert.AreEqual(1, code, text);
            StringAssert.Contains(text, "info: eng/fetch-keras-resnet50.sh --model-only failed (exit code");
            Assert.IsFalse(text.Contains("   at "), "a stack trace was printed:\n" + text);
        }

        /// <summary>Model Builder's layout: one subfolder per class of 32x32 stripe PNGs named 00.png, 01.png,
        /// ...</summary>
        private static string WriteImageFolder(string data, int perClass, int seed)
        {
            var random = new Random(seed);
            foreach (var label in GeneratedImages.Classes)
            {
                Directory.CreateDirectory(Path.Combine(data, label));
                for (int i = 0; i < perClass; i++)
                    File.WriteAllBytes(Path.Combine(data, label, $"{i:00}.png"),
                        GeneratedImages.Draw(label == "horizontal", random, 32));
            }
            return data;
        }

        private static (int ExitCode, string Output) RunSample(params string[] args)
            => RunSample(Array.Empty<(string, string)>(), args);

        private static (int ExitCode, string Output) RunSample((string Name, string Value)[] environment,
            params string[] args)
        {
            string configuration = AppContext.BaseDirectory.Contains(
                $"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";
            string dll = Path.Combine(RepoPaths.Root, "src", "Samples", "bin", configuration, "net10.0", "Samples.dll");
            Assert.IsTrue(File.Exists(dll), $"{dll} was not built");
            var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            start.ArgumentList.Add(dll);
            foreach (var (name, value) in environment)
                start.Environment[name] = value;
            foreach (var a in args)
                start.ArgumentList.Add(a);
            using var process = Process.Start(start);
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(180_000))
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail($"'Samples {string.Join(" ", args)}' did not finish in 180 s.");
            }
            string output = stdout.Result + stderr.Result;
            Console.WriteLine($"$ Samples {string.Join(" ", args)}  (exit {process.ExitCode})");
            Console.WriteLine(output);
            return (process.ExitCode, output);
        }
    }
}

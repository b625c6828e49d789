// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests.Backbone
{
    /// <summary>
    /// Every network preset (Basic and Bottleneck, V1 and V1.5, ML.NET's [2,2,2,3]) through the folded path at 224 px
    /// and through one training step, in a child process (test/Microsoft.ML.Freezing.FuzzHost): oneDNN divided by zero
    /// choosing the blocking of a 1x1 convolution (SIGFPE, ResNet-50) on two VMs, which would end the test run itself.
    /// </summary>
    [TestClass]
    [TestCategory(Categories.Numerical)]
    public sealed class FoldedPresetTests
    {
        private static readonly string[] Presets =
        {
            "resnet18", "mlnet-resnet18 [2,2,2,3]", "resnet34", "resnet50 v1.5", "resnet50 v1 (Keras)", "resnet101",
            "resnet152",
        };

        [TestMethod]
        public void EveryPresetRunsFoldedAt224WithoutACrashAndEveryStageMatches()
            => AssertEveryPresetOk("folded", "224");

        /// <summary>One training step of each preset with everything trainable (mode "trainstep"): oneDNN's 1x1
        /// backward kernel divided by zero training ResNet-50 on a Zen 5 VM (see PointwiseConvolution).</summary>
        [TestMethod]
        public void EveryPresetTrainsAStepWithoutACrashAndWithFiniteGradients()
            => AssertEveryPresetOk("trainstep", "112");

        private static void AssertEveryPresetOk(params string[] arguments)
        {
            string configuration = AppContext.BaseDirectory.Contains(
                $"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}")
                ? "Release" : "Debug";
            string host = Path.Combine(RepoPaths.Root, "test", "Microsoft.ML.Freezing.FuzzHost", "bin", configuration,
                "net10.0", "Microsoft.ML.Freezing.FuzzHost.dll");
            Assert.IsTrue(File.Exists(host), $"{host} was not built");
            var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            start.ArgumentList.Add(host);
            foreach (var argument in arguments)
                start.ArgumentList.Add(argument);

            using var process = Process.Start(start);
            var stderr = process.StandardError.ReadToEndAsync();
            var lines = new List<string>();
            for (string line; (line = process.StandardOutput.ReadLine()) != null;)
                lines.Add(line);
            if (!process.WaitForExit(300_000))
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail("the child timed out; its output:\n" + string.Join("\n", lines));
            }

            string transcript = string.Join("\n", lines) + "\n" + stderr.Result;
            Console.WriteLine(transcript);
            string running = lines.LastOrDefault(l => l.StartsWith("CASE ", StringComparison.Ordinal));
            Assert.AreEqual(0, process.ExitCode,
                $"the child died (exit {process.ExitCode}) during '{running}':\n{transcript}");
            foreach (var preset in Presets)
                Assert.IsTrue(lines.Any(l => l.StartsWith($"OK {preset} ", StringComparison.Ordinal)),
                    $"{preset}:\n{transcript}");
            Assert.AreEqual($"RAN {Presets.Length}", lines.Last(), transcript);
        }
    }
}

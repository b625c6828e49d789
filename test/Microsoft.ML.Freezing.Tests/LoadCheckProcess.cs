// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Diagnostics;
using System.IO;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests
{
    /// <summary>Runs test/Microsoft.ML.Freezing.LoadCheck (built with this configuration) as a fresh process.</summary>
    internal static class LoadCheckProcess
    {
        /// <summary>Runs it with <paramref name="args"/>; returns its exit code and what it wrote.</summary>
        public static (int ExitCode, string Output) Run(params string[] args)
        {
            string configuration = AppContext.BaseDirectory.Contains(
                $"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";
            string dll = Path.Combine(RepoPaths.Root, "test", "Microsoft.ML.Freezing.LoadCheck", "bin", configuration,
                "net10.0", "Microsoft.ML.Freezing.LoadCheck.dll");
            Assert.IsTrue(File.Exists(dll), $"{dll} was not built");
            var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            start.ArgumentList.Add(dll);
            foreach (var a in args) start.ArgumentList.Add(a);
            using var process = Process.Start(start);
            var stderr = process.StandardError.ReadToEndAsync();
            string stdout = process.StandardOutput.ReadToEnd();
            Assert.IsTrue(process.WaitForExit(120_000), "LoadCheck did not finish");
            return (process.ExitCode, stdout + stderr.Result);
        }
    }
}

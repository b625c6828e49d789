// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Diagnostics;
using System.IO;

namespace Samples
{
    /// <summary>
    /// Runs the fetch scripts in the repository's <c>eng/</c> folder (found by walking up from the sample's binaries to
    /// the folder holding Freezing.sln). Outside a checkout there is no script, and the caller tells the user what to
    /// run.
    /// </summary>
    public static class RepositoryScripts
    {
        /// <summary>The folder holding Freezing.sln above the sample's binaries, or null.</summary>
        public static string FindRoot()
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Freezing.sln")))
                    return dir.FullName;
            }
            return null;
        }

        /// <summary>
        /// Runs <c>bash eng/<paramref name="script"/></c> with the console attached; false when the script is not found
        /// (no checkout); throws when it fails.
        /// </summary>
        public static bool TryRun(string script)
        {
            string root = FindRoot();
            string path = root == null ? null : Path.Combine(root, "eng", script);
            if (path == null || !File.Exists(path))
                return false;
            Console.WriteLine($"Running eng/{script} ...");
            var start = new ProcessStartInfo("bash") { UseShellExecute = false };
            start.ArgumentList.Add(path);
            using var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start bash.");
            process.WaitForExit();
            if (process.ExitCode != 0)
                throw new InvalidOperationException(
                    $"{path} failed (exit code {process.ExitCode}); run it by hand to see why.");
            return true;
        }
    }
}

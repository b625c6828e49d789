// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Diagnostics;
using System.IO;
using System.Linq;

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
        /// Runs <c>bash eng/<paramref name="script"/> <paramref name="arguments"/></c> with the console attached; false
        /// when the script is not found (no checkout); throws <see cref="ScriptFailedException"/> when it fails.
        /// </summary>
        public static bool TryRun(string script, params string[] arguments)
        {
            string root = FindRoot();
            string path = root == null ? null : Path.Combine(root, "eng", script);
            if (path == null || !File.Exists(path))
                return false;
            string line = string.Join(" ", new[] { $"eng/{script}" }.Concat(arguments));
            Console.WriteLine($"Running {line} ...");
            var start = new ProcessStartInfo("bash") { UseShellExecute = false };
            start.ArgumentList.Add(path);
            foreach (string argument in arguments)
                start.ArgumentList.Add(argument);
            using var process = Process.Start(start) ?? throw new ScriptFailedException("could not start bash.");
            process.WaitForExit();
            if (process.ExitCode != 0)
                throw new ScriptFailedException($"{line} failed (exit code {process.ExitCode}; its output is above). " +
                    $"Fix what it says, then run the command again (or 'bash {line}' from {root} first).");
            return true;
        }
    }

    /// <summary>A fetch script in <c>eng/</c> failed: the command cannot go on, and the message says what to run.
    /// Reported without a stack trace.</summary>
    public sealed class ScriptFailedException : Exception
    {
        public ScriptFailedException(string message) : base(message) { }
    }
}

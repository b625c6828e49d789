// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text.Json;

namespace Microsoft.ML.Freezing.Benchmarks
{
    /// <summary>
    /// A side of the benchmark in its own process (so that its memory is its own): commands go in as lines on stdin,
    /// each answer is one JSON line on stdout; stderr goes to a log file.
    /// </summary>
    internal sealed class WorkerProcess : IDisposable
    {
        private readonly Process _process;
        private readonly StreamWriter _log;

        public WorkerProcess(string name, string fileName, IEnumerable<string> arguments, string logPath)
        {
            Name = name;
            var start = new ProcessStartInfo(fileName)
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var a in arguments) start.ArgumentList.Add(a);
            _log = new StreamWriter(logPath, append: true) { AutoFlush = true };
            _process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {fileName}.");
            _process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (_log) _log.WriteLine(e.Data); };
            _process.BeginErrorReadLine();
        }

        public string Name { get; }
        public int Id => _process.Id;

        /// <summary>Sends one command and returns its answer; an answer with "error" throws.</summary>
        public JsonElement Ask(string command)
        {
            _process.StandardInput.WriteLine(command);
            _process.StandardInput.Flush();
            while (true)
            {
                string line = _process.StandardOutput.ReadLine()
                    ?? throw new InvalidOperationException($"{Name} exited while answering '{command}' (see its log).");
                line = line.Trim();
                if (!line.StartsWith('{'))
                {
                    lock (_log) _log.WriteLine(line); // stray output (warnings) goes to the log
                    continue;
                }
                var answer = JsonDocument.Parse(line).RootElement.Clone();
                if (answer.TryGetProperty("error", out var error))
                    throw new InvalidOperationException($"{Name}: '{command}' failed: {error.GetString()}");
                return answer;
            }
        }

        /// <summary>Asks the worker to quit and returns its peak resident memory in MB.</summary>
        public double Quit()
        {
            var answer = Ask("quit");
            _process.WaitForExit(60_000);
            return answer.GetProperty("vmhwm_kb").GetDouble() / 1024;
        }

        public void Dispose()
        {
            try
            {
                if (!_process.HasExited)
                {
                    _process.StandardInput.Close();
                    if (!_process.WaitForExit(10_000))
                        _process.Kill();
                }
            }
            catch (InvalidOperationException)
            {
            }
            _process.Dispose();
            _log.Dispose();
        }

        /// <summary>Runs a one-shot command to completion; throws with the log's tail when it fails.</summary>
        public static void RunToEnd(string fileName, IEnumerable<string> arguments, string logPath, TimeSpan timeout,
            bool append = true)
        {
            var start = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true,
                UseShellExecute = false };
            foreach (var a in arguments) start.ArgumentList.Add(a);
            using var log = new StreamWriter(logPath, append) { AutoFlush = true };
            using var process = Process.Start(start)
                ?? throw new InvalidOperationException($"Could not start {fileName}.");
            process.OutputDataReceived += (_, e) => { if (e.Data != null) lock (log) log.WriteLine(e.Data); };
            process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (log) log.WriteLine(e.Data); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            if (!process.WaitForExit((int)timeout.TotalMilliseconds))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException(
                    $"{Path.GetFileName(fileName)} {string.Join(' ', arguments)} ran over {timeout}; see {logPath}.");
            }
            process.WaitForExit();
            if (process.ExitCode != 0)
                throw new InvalidOperationException(
                    $"{Path.GetFileName(fileName)} {string.Join(' ', arguments)} exited with {process.ExitCode}; see " +
                    $"{logPath}.");
        }
    }

    /// <summary>The command loop of a C# worker (ours or ONNX Runtime).</summary>
    internal static class CommandLoop
    {
        public static void Run(Func<string[], object> handle)
        {
            string line;
            while ((line = Console.In.ReadLine()) != null)
            {
                var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (words.Length == 0) continue;
                object answer;
                try
                {
                    answer = words[0] == "quit" || words[0] == "rss" ? new { vmhwm_kb = Memory.PeakKilobytes() }
                        : handle(words);
                }
                catch (Exception ex)
                {
                    Console.Error.WriteLine(ex);
                    answer = new { error = $"{ex.GetType().Name}: {ex.Message}" };
                }
                Console.Out.WriteLine(JsonSerializer.Serialize(answer));
                Console.Out.Flush();
                if (words[0] == "quit") return;
            }
        }
    }

    internal static class Memory
    {
        /// <summary>Peak resident set size of this process (VmHWM), in kB.</summary>
        public static long PeakKilobytes()
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
            return 0;
        }
    }
}

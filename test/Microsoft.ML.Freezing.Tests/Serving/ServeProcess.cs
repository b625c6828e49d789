// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests.Serving
{
    /// <summary>
    /// The sample's <c>serve</c> as a user runs it: <c>dotnet Samples.dll serve --model ... --port 0</c> in a child
    /// process (the test project builds the sample first), on the free port Kestrel picks, with its log collected.
    /// Dispose kills it if it still runs.
    /// </summary>
    internal sealed class ServeProcess : IDisposable
    {
        private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);
        private readonly Process _process;
        private readonly StringBuilder _log = new StringBuilder();

        private readonly ManualResetEventSlim _listening = new ManualResetEventSlim();
        private string _address;

        private ServeProcess(Process process) => _process = process;

        /// <summary>The server's base address, e.g. <c>http://127.0.0.1:41234/</c>.</summary>
        public Uri Address { get; private set; }

        /// <summary>A client for <see cref="Address"/>.</summary>
        public HttpClient Client { get; private set; }

        /// <summary>Everything the server wrote so far (stdout and stderr).</summary>
        public string Log
        {
            get
            {
                lock (_log)
                    return _log.ToString();
            }
        }

        /// <summary>Starts <c>serve --model <paramref name="model"/> --port 0</c> plus <paramref name="extra"/> and
        /// waits until it listens.</summary>
        public static ServeProcess Start(string model, params string[] extra)
        {
            var start = new ProcessStartInfo("dotnet")
            {
                RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            };
            start.ArgumentList.Add(SampleDll);
            foreach (var a in new[] { "serve", "--model", model, "--port", "0" })
                start.ArgumentList.Add(a);
            foreach (var a in extra)
                start.ArgumentList.Add(a);
            var server = new ServeProcess(new Process { StartInfo = start });
            var process = server._process;
            process.OutputDataReceived += server.Collect;
            process.ErrorDataReceived += server.Collect;
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var watch = Stopwatch.StartNew();
            while (!server._listening.Wait(200))
            {
                if (process.HasExited || watch.Elapsed > StartTimeout)
                {
                    server.Dispose();
                    Assert.Fail($"serve did not start listening within {StartTimeout.TotalSeconds} s:\n{server.Log}");
                }
            }
            server.Address = new Uri(server._address.TrimEnd('/') + "/");
            server.Client = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(60) };
            return server;
        }

        /// <summary>Runs <c>serve --model <paramref name="model"/> --port 0</c> plus <paramref name="extra"/> for a
        /// command line that must stop by itself (a refused start); returns its exit code and output.</summary>
        public static (int ExitCode, string Output) Run(string model, params string[] extra)
        {
            var start = new ProcessStartInfo("dotnet")
            {
                RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            };
            foreach (var a in new[] { SampleDll, "serve", "--model", model, "--port", "0" }.Concat(extra))
                start.ArgumentList.Add(a);
            using var process = Process.Start(start);
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(90_000))
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail($"serve {string.Join(" ", extra)} did not stop by itself within 90 s.");
            }
            return (process.ExitCode, stdout.Result + stderr.Result);
        }

        /// <summary>Waits until the log matches <paramref name="pattern"/> (at least <paramref name="count"/> times);
        /// fails with the log after <paramref name="timeout"/>.</summary>
        public void WaitForLog(string pattern, TimeSpan timeout, int count = 1)
        {
            var watch = Stopwatch.StartNew();
            while (Regex.Matches(Log, pattern).Count < count)
            {
                if (watch.Elapsed > timeout)
                    Assert.Fail($"The server's log did not show /{pattern}/ x{count} within " +
                        $"{timeout.TotalSeconds} s:\n{Log}");
                Thread.Sleep(100);
            }
        }

        /// <summary>Sends SIGTERM (what a process manager sends) and waits for the exit; returns the exit
        /// code.</summary>
        public int Terminate(TimeSpan timeout)
        {
            using (var kill = Process.Start("kill", new[] { "-TERM", _process.Id.ToString() }))
                kill.WaitForExit();
            Assert.IsTrue(_process.WaitForExit((int)timeout.TotalMilliseconds),
                $"serve did not stop within {timeout.TotalSeconds} s of SIGTERM:\n{Log}");
            _process.WaitForExit(); // the rest of the output
            return _process.ExitCode;
        }

        public void Dispose()
        {
            Client?.Dispose();
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
            Console.WriteLine($"--- serve log ({Address})");
            Console.WriteLine(Log);
            _process.Dispose();
        }

        private void Collect(object sender, DataReceivedEventArgs e)
        {
            if (e.Data is null)
                return;
            lock (_log)
                _log.AppendLine(e.Data);
            var m = Regex.Match(e.Data, @"Now listening on: (http://\S+)");
            if (m.Success && _address is null)
            {
                _address = m.Groups[1].Value;
                _listening.Set();
            }
        }

        /// <summary>The built sample (Release or Debug, as this test assembly).</summary>
        private static string SampleDll
        {
            get
            {
                string configuration = AppContext.BaseDirectory.Contains(
                    $"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";
                string dll = Path.Combine(RepoPaths.Root, "src", "Samples", "bin", configuration, "net10.0",
                    "Samples.dll");
                Assert.IsTrue(File.Exists(dll), $"{dll} was not built");
                return dll;
            }
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Concurrent;
using System.IO;
using System.Linq;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests.Serving
{
    /// <summary>
    /// Hot reload of <c>serve</c> through a real server: a replaced model file is swapped in while requests keep
    /// coming (every one answered; the old generation disposed after them), a damaged replacement or one with other
    /// classes is refused and the old model keeps answering, and SIGTERM stops the server cleanly.
    /// </summary>
    [TestClass]
    public sealed class ServeReloadTests
    {
        private static readonly TimeSpan ReloadTimeout = TimeSpan.FromSeconds(60);

        [TestMethod]
        public async Task AReplacedModelFileReloadsUnderLoadAndSigtermStopsCleanly()
        {
            string path = ServingModels.CopyToNewFolder(ServingModels.Zip);
            byte[] image = ServingModels.Image("plain", seed: 21);
            float[] before = ServingModels.ScoreInProcess(ServingModels.Zip, image);
            float[] after = ServingModels.ScoreInProcess(ServingModels.OtherWeightsZip, image);
            Assert.IsTrue(before.Zip(after, (a, b) => Math.Abs(a - b)).Max() > 1e-3, "the two models score alike");

            using var server = ServeProcess.Start(path);
            ServeApiTests.AssertPrediction(before,
                await ServeApiTests.PostAsync(server, ServeApiTests.Raw(image), HttpStatusCode.OK), 1e-5);

            // Four clients keep asking while the file is replaced; every request must be answered by one model or the
            // other.
            using var stop = new CancellationTokenSource();
            var failures = new ConcurrentQueue<string>();
            int answered = 0;
            var clients = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    using var response = await server.Client.PostAsync("predict", ServeApiTests.Raw(image));
                    if (response.StatusCode != HttpStatusCode.OK)
                        failures.Enqueue($"{response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                    Interlocked.Increment(ref answered);
                }
            })).ToArray();

            ServingModels.ReplaceFile(path, File.ReadAllBytes(ServingModels.OtherWeightsZip));
            server.WaitForLog(@"Reloaded .*generation 2", ReloadTimeout);
            server.WaitForLog(@"Disposed model generation 1", ReloadTimeout);
            Thread.Sleep(300);
            stop.Cancel();
            await Task.WhenAll(clients);
            Assert.IsTrue(failures.IsEmpty, string.Join("\n", failures) + "\n" + server.Log);
            Assert.IsTrue(answered > 4, $"only {answered} requests were answered during the reload");

            var health = await ServeApiTests.GetJsonAsync(server, "health");
            Assert.AreEqual(2, health.GetProperty("generation").GetInt32());
            ServeApiTests.AssertPrediction(after,
                await ServeApiTests.PostAsync(server, ServeApiTests.Raw(image), HttpStatusCode.OK), 1e-5);

            Assert.AreEqual(0, server.Terminate(TimeSpan.FromSeconds(30)), server.Log);
            StringAssert.Contains(server.Log, "Disposed model generation 2");
        }

        [TestMethod]
        public async Task ADamagedReplacementOrOneWithOtherClassesIsRefusedAndTheOldModelKeepsAnswering()
        {
            string path = ServingModels.CopyToNewFolder(ServingModels.Zip);
            byte[] image = ServingModels.Image("vertical", seed: 22);
            float[] expected = ServingModels.ScoreInProcess(ServingModels.Zip, image);
            byte[] good = File.ReadAllBytes(ServingModels.Zip);
            using var server = ServeProcess.Start(path, "--scoring", "pool");

            // Other class names; a truncated copy; a copy with damaged bytes in the middle (the zip's checksums).
            byte[] damaged = (byte[])good.Clone();
            for (int i = damaged.Length / 2; i < damaged.Length / 2 + 64; i++)
                damaged[i] ^= 0x5A;
            var replacements = new (string Name, byte[] Bytes, string Logged)[]
            {
                ("other classes", File.ReadAllBytes(ServingModels.OtherClassesZip),
                    "classes \\[left, right, middle\\]"),
                ("truncated", good.Take(good.Length / 3).ToArray(), "Refused"),
                ("damaged bytes", damaged, "Refused"),
            };
            int refused = 0;
            foreach (var (name, bytes, logged) in replacements)
            {
                ServingModels.ReplaceFile(path, bytes);
                server.WaitForLog("Refused the replaced model file", ReloadTimeout, ++refused);
                StringAssert.Matches(server.Log, new System.Text.RegularExpressions.Regex(logged), name);
                var health = await ServeApiTests.GetJsonAsync(server, "health");
                Assert.AreEqual(1, health.GetProperty("generation").GetInt32(), name);
                ServeApiTests.AssertPrediction(expected,
                    await ServeApiTests.PostAsync(server, ServeApiTests.Raw(image), HttpStatusCode.OK, name), 1e-4);
            }
            StringAssert.Contains(server.Log, "Still serving generation 1");

            // The watcher still works after the refusals: a good replacement is taken.
            ServingModels.ReplaceFile(path, File.ReadAllBytes(ServingModels.OtherWeightsZip));
            server.WaitForLog(@"Reloaded .*generation 2", ReloadTimeout);
        }
    }
}

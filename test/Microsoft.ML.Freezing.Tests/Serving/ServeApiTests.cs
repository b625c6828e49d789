// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests.Serving
{
    /// <summary>
    /// The sample's <c>serve</c> through a real Kestrel server (a child process on a free port) and a real
    /// <see cref="HttpClient"/>: predictions equal the model's in-process scores, for raw bodies and multipart forms,
    /// under concurrent requests, with a pool of engines and with batching; each bad body answers its status with a
    /// JSON message and the server goes on serving.
    /// </summary>
    [TestClass]
    public sealed class ServeApiTests
    {
        private const long DefaultLimit = 20L * 1024 * 1024;
        private static ServeProcess _pool;
        private static ServeProcess _batch;

        [ClassInitialize]
        public static void StartServers(TestContext _)
        {
            string zip = ServingModels.Zip;
            _pool = ServeProcess.Start(zip, "--scoring", "pool");
            _batch = ServeProcess.Start(zip); // the default
        }

        [ClassCleanup]
        public static void StopServers()
        {
            _pool?.Dispose();
            _batch?.Dispose();
        }

        [TestMethod]
        public async Task PredictAnswersTheTopThreeForRawBytesAndMultipart()
        {
            byte[] image = ServingModels.Image("vertical", seed: 5);
            float[] expected = ServingModels.ScoreInProcess(ServingModels.Zip, image);

            foreach (var contentType in new[] { "image/png", "image/jpeg", "application/octet-stream" })
            {
                var body = new ByteArrayContent(image);
                body.Headers.ContentType = new MediaTypeHeaderValue(contentType);
                AssertPrediction(expected, await PostAsync(_pool, body, HttpStatusCode.OK), tolerance: 1e-5);
            }
            AssertPrediction(expected, await PostAsync(_pool, Multipart("image", image), HttpStatusCode.OK), 1e-5);
            AssertPrediction(expected, await PostAsync(_batch, Multipart("image", image), HttpStatusCode.OK), 1e-4);
        }

        [TestMethod]
        public async Task ConcurrentRequestsEachGetTheirOwnImagesScores()
        {
            var images = Enumerable.Range(0, 8)
                .Select(i => ServingModels.Image(ServingModels.Classes[i % 3], seed: 100 + i)).ToArray();
            var expected = images.Select(i => ServingModels.ScoreInProcess(ServingModels.Zip, i)).ToArray();

            foreach (var (server, tolerance) in new[] { (_pool, 1e-5), (_batch, 1e-4) })
            {
                // 8 clients at once, 3 rounds each, every client its own image.
                var answers = await Task.WhenAll(Enumerable.Range(0, images.Length).Select(async c =>
                {
                    var results = new JsonElement[3];
                    for (int round = 0; round < results.Length; round++)
                        results[round] = await PostAsync(server, Raw(images[c]), HttpStatusCode.OK);
                    return results;
                }));
                for (int c = 0; c < images.Length; c++)
                {
                    foreach (var answer in answers[c])
                        AssertPrediction(expected[c], answer, tolerance);
                }
            }
        }

        [TestMethod]
        public async Task BadBodiesAnswerTheirStatusWithAMessageAndTheServerKeepsServing()
        {
            byte[] good = ServingModels.Image("horizontal", seed: 9);
            byte[] text = Encoding.UTF8.GetBytes("a caption, not a picture");
            byte[] big = new byte[DefaultLimit + 1];
            new Random(1).NextBytes(big);
            var cases = new (string Name, Func<HttpContent> Body, HttpStatusCode Status, string Message)[]
            {
                ("empty body", () => Raw(Array.Empty<byte>()), HttpStatusCode.BadRequest, "no image"),
                ("not an image", () => Raw(text), HttpStatusCode.BadRequest, "not a readable image"),
                ("truncated png", () => Raw(good.Take(good.Length / 2).ToArray()), HttpStatusCode.BadRequest,
                    "not a readable image"),
                ("multipart without 'image'", () => Multipart("file", good), HttpStatusCode.BadRequest, "'image'"),
                ("multipart, not an image", () => Multipart("image", text), HttpStatusCode.BadRequest,
                    "not a readable image"),
                ("multipart, empty image", () => Multipart("image", Array.Empty<byte>()), HttpStatusCode.BadRequest,
                    "no image"),
                ("limit + 1 byte", () => Raw(big), HttpStatusCode.RequestEntityTooLarge, "20,971,520"),
                ("multipart, limit + 1 byte", () => Multipart("image", big), HttpStatusCode.RequestEntityTooLarge,
                    "20,971,520"),
            };
            foreach (var server in new[] { _pool, _batch })
            {
                foreach (var (name, body, status, message) in cases)
                {
                    var answer = await PostAsync(server, body(), status, name);
                    StringAssert.Contains(answer.GetProperty("error").GetString(), message, name);
                    // ... and the next request is served.
                    var next = await PostAsync(server, Raw(good), HttpStatusCode.OK, $"after {name}");
                    Assert.AreEqual(3, next.GetProperty("top").GetArrayLength(), $"after {name}");
                }
            }

            // A bad image among concurrent good ones fails alone (each request decodes its own image).
            var mixed = await Task.WhenAll(Enumerable.Range(0, 6).Select(async i =>
            {
                using var response = await _batch.Client.PostAsync("predict", Raw(i == 3 ? text : good));
                return response.StatusCode;
            }));
            CollectionAssert.AreEqual(
                Enumerable.Range(0, 6).Select(i => i == 3 ? HttpStatusCode.BadRequest : HttpStatusCode.OK).ToArray(),
                mixed);
            Assert.IsFalse(_pool.Log.Contains("fail:") || _batch.Log.Contains("fail:"),
                "a bad body was logged as a server failure:\n" + _pool.Log + _batch.Log);
        }

        [TestMethod]
        public async Task AModelThatBatchingCannotServeIsServedByThePool()
        {
            // Its FrozenResNet reads a column the pipeline copies from ImageSource: only a PredictionEngine feeds it.
            byte[] image = ServingModels.Image("plain", seed: 41);
            float[] expected = ServingModels.ScoreInProcess(ServingModels.CopiedColumnZip, image);
            using (var server = ServeProcess.Start(ServingModels.CopiedColumnZip))
            {
                Assert.AreEqual("pool", (await GetJsonAsync(server, "model")).GetProperty("scoring").GetString());
                StringAssert.Contains(server.Log, "Scoring with a pool of prediction engines: batching needs");
                AssertPrediction(expected, await PostAsync(server, Raw(image), HttpStatusCode.OK), 1e-5);
            }
            // Asked for explicitly, batching refuses it at start.
            var refused = ServeProcess.Run(ServingModels.CopiedColumnZip, "--scoring", "batch");
            Assert.AreEqual(1, refused.ExitCode, refused.Output);
            StringAssert.Contains(refused.Output, "Use --scoring pool.");
        }

        [TestMethod]
        public async Task ModelHealthAndPageDescribeTheServedModel()
        {
            var model = await GetJsonAsync(_pool, "model");
            CollectionAssert.AreEqual(ServingModels.Classes,
                model.GetProperty("classNames").EnumerateArray().Select(e => e.GetString()).ToArray());
            var network = model.GetProperty("network");
            CollectionAssert.AreEqual(new[] { 1, 1, 1, 1 },
                network.GetProperty("depths").EnumerateArray().Select(e => e.GetInt32()).ToArray());
            Assert.AreEqual(3, network.GetProperty("classes").GetInt32());
            Assert.IsTrue(network.GetProperty("parameters").GetInt64() > 1_000_000);
            var preprocessing = model.GetProperty("preprocessing");
            Assert.AreEqual(32, preprocessing.GetProperty("imageSize").GetInt32());
            Assert.AreEqual(3, preprocessing.GetProperty("mean").GetArrayLength());
            var history = model.GetProperty("history");
            Assert.AreEqual(ServingModels.Epochs, history.GetArrayLength());
            Assert.IsTrue(history[0].GetProperty("trainLoss").GetDouble() > 0);
            Assert.AreEqual("pool", model.GetProperty("scoring").GetString());
            Assert.AreEqual("batch", (await GetJsonAsync(_batch, "model")).GetProperty("scoring").GetString(),
                "batching is the default");

            var health = await GetJsonAsync(_pool, "health");
            Assert.AreEqual("ok", health.GetProperty("status").GetString());
            Assert.AreEqual(1, health.GetProperty("generation").GetInt32());

            using var page = await _pool.Client.GetAsync("");
            Assert.AreEqual(HttpStatusCode.OK, page.StatusCode);
            Assert.AreEqual("text/html", page.Content.Headers.ContentType.MediaType);
            string html = await page.Content.ReadAsStringAsync();
            StringAssert.Contains(html, "<input id=\"file\" type=\"file\"");
            // One self-contained page: no script, style or image from elsewhere.
            Assert.IsFalse(System.Text.RegularExpressions.Regex.IsMatch(html, "(src|href)=\"(https?:)?//"), html);
        }

        /// <summary>Checks a /predict answer against the in-process probabilities: the top 3 classes, most likely
        /// first, with their scores, and the predicted label.</summary>
        internal static void AssertPrediction(float[] expected, JsonElement answer, double tolerance)
        {
            var order = Enumerable.Range(0, expected.Length).OrderByDescending(i => expected[i]).Take(3).ToArray();
            var top = answer.GetProperty("top").EnumerateArray().ToArray();
            Assert.AreEqual(3, top.Length, answer.ToString());
            for (int k = 0; k < top.Length; k++)
            {
                Assert.AreEqual(ServingModels.Classes[order[k]], top[k].GetProperty("label").GetString(),
                    answer.ToString());
                Assert.AreEqual(expected[order[k]], top[k].GetProperty("score").GetDouble(), tolerance,
                    answer.ToString());
            }
            Assert.AreEqual(ServingModels.Classes[order[0]], answer.GetProperty("predictedLabel").GetString());
        }

        internal static async Task<JsonElement> PostAsync(ServeProcess server, HttpContent body,
            HttpStatusCode expected, string what = null)
        {
            using var response = await server.Client.PostAsync("predict", body);
            string text = await response.Content.ReadAsStringAsync();
            Assert.AreEqual(expected, response.StatusCode, $"{what}: {text}");
            Assert.AreEqual("application/json", response.Content.Headers.ContentType?.MediaType, $"{what}: {text}");
            return JsonDocument.Parse(text).RootElement.Clone();
        }

        internal static async Task<JsonElement> GetJsonAsync(ServeProcess server, string path)
        {
            using var response = await server.Client.GetAsync(path);
            string text = await response.Content.ReadAsStringAsync();
            Assert.AreEqual(HttpStatusCode.OK, response.StatusCode, text);
            return JsonDocument.Parse(text).RootElement.Clone();
        }

        internal static HttpContent Raw(byte[] image)
        {
            var body = new ByteArrayContent(image);
            body.Headers.ContentType = new MediaTypeHeaderValue("image/png");
            return body;
        }

        private static HttpContent Multipart(string field, byte[] image)
        {
            var file = new ByteArrayContent(image);
            file.Headers.ContentType = new MediaTypeHeaderValue("image/png");
            return new MultipartFormDataContent { { file, field, "image.png" } };
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Concurrent;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using Samples.Serving;

namespace Microsoft.ML.Freezing.Tests.Serving
{
    /// <summary>
    /// The 500 path of <c>serve</c>, which no request can reach on purpose (bad bodies are 400 and 413): the sample's
    /// endpoints on a real Kestrel server in this process, a real <see cref="HttpClient"/>, the real model and pool of
    /// engines, and a scorer that fails the way a fault inside scoring would. The failure answers a JSON 500 with the
    /// fault's message, is logged with its exception, and the next request is served.
    /// </summary>
    [TestClass]
    public sealed class ServeFailureTests
    {
        [TestMethod]
        public async Task AFaultWhileScoringAnswers500WithAMessageIsLoggedAndTheServerKeepsServing()
        {
            byte[] image = ServingModels.Image("vertical", seed: 7);
            float[] expected = ServingModels.ScoreInProcess(ServingModels.Zip, image);
            var logged = new LoggedErrors();
            FaultOnce scorer = null;
            var app = StartApp(logged, ServingModels.CopyToNewFolder(ServingModels.Zip),
                (ml, pipeline) => scorer = new FaultOnce(new PredictionPool(ml, pipeline, engines: 1)),
                out var client);
            try
            {
                var failed = await PostAsync(client, "predict", image, HttpStatusCode.InternalServerError);
                StringAssert.Contains(failed.GetProperty("error").GetString(), FaultOnce.Message);
                Assert.IsTrue(logged.Errors.Any(e => e.Message.Contains("POST /predict failed")
                    && e.Exception?.Message == FaultOnce.Message), "the fault was not logged: " + logged);
                Assert.AreEqual(1, scorer.Faults);

                // The same image again: served, and scored as in this process.
                var served = await PostAsync(client, "predict", image, HttpStatusCode.OK);
                var top = served.GetProperty("top").EnumerateArray().ToArray();
                Assert.AreEqual(ServeEndpoints.TopCount, top.Length);
                foreach (var entry in top)
                {
                    int index = Array.IndexOf(ServingModels.Classes, entry.GetProperty("label").GetString());
                    Assert.AreEqual(expected[index], entry.GetProperty("score").GetSingle(), 1e-5);
                }

                // Any other endpoint's unhandled exception: the same JSON 500 from the server's handler, logged.
                var handled = await GetAsync(client, "throws", HttpStatusCode.InternalServerError);
                StringAssert.Contains(handled.GetProperty("error").GetString(), "an endpoint's own fault");
                Assert.IsTrue(logged.Errors.Any(e => e.Message.Contains("GET /throws failed")), logged.ToString());
                Assert.AreEqual("ok", (await GetAsync(client, "health", HttpStatusCode.OK))
                    .GetProperty("status").GetString());
            }
            finally
            {
                client.Dispose();
                await app.StopAsync();
                await app.DisposeAsync();
            }
        }

        /// <summary>The sample's endpoints and exception handler (<see cref="ServeEndpoints.Map"/>) on a free port of
        /// 127.0.0.1, plus <c>GET /throws</c>, an endpoint that throws.</summary>
        private static WebApplication StartApp(LoggedErrors logged, string modelPath,
            Func<MLContext, ITransformer, IImageScorer> createScorer, out HttpClient client)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.Logging.AddProvider(logged);
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            var host = new ModelHost(modelPath, createScorer, app.Services.GetRequiredService<ILoggerFactory>()
                .CreateLogger("test"));
            app.Lifetime.ApplicationStopped.Register(host.Dispose);
            ServeEndpoints.Map(app, host, maxImageBytes: 1 << 20);
            app.MapGet("/throws", (Func<string>)(() => throw new InvalidOperationException("an endpoint's own fault")));
            app.StartAsync().GetAwaiter().GetResult();
            client = new HttpClient { BaseAddress = new Uri(app.Urls.Single() + "/") };
            return app;
        }

        private static async Task<JsonElement> PostAsync(HttpClient client, string path, byte[] image,
            HttpStatusCode status)
        {
            var body = new ByteArrayContent(image);
            body.Headers.ContentType = new MediaTypeHeaderValue("image/png");
            using var response = await client.PostAsync(path, body);
            return await ReadAsync(response, status);
        }

        private static async Task<JsonElement> GetAsync(HttpClient client, string path, HttpStatusCode status)
        {
            using var response = await client.GetAsync(path);
            return await ReadAsync(response, status);
        }

        private static async Task<JsonElement> ReadAsync(HttpResponseMessage response, HttpStatusCode status)
        {
            string text = await response.Content.ReadAsStringAsync();
            Assert.AreEqual(status, response.StatusCode, text);
            Assert.AreEqual("application/json", response.Content.Headers.ContentType?.MediaType, text);
            return JsonDocument.Parse(text).RootElement.Clone();
        }

        /// <summary>A real scorer whose first call fails as a fault inside scoring would.</summary>
        private sealed class FaultOnce : IImageScorer
        {
            public const string Message = "a fault inside scoring";
            private readonly IImageScorer _inner;
            private int _calls;

            public FaultOnce(IImageScorer inner) => _inner = inner;

            public int Faults { get; private set; }

            public string Kind => _inner.Kind;

            public Task<float[]> ScoreAsync(byte[] image, CancellationToken cancellationToken)
            {
                if (Interlocked.Increment(ref _calls) > 1)
                    return _inner.ScoreAsync(image, cancellationToken);
                Faults++;
                throw new InvalidOperationException(Message);
            }

            public void Dispose() => _inner.Dispose();
        }

        /// <summary>The errors the server logs.</summary>
        private sealed class LoggedErrors : ILoggerProvider, ILogger
        {
            public ConcurrentQueue<(string Message, Exception Exception)> Errors { get; } = new();

            public ILogger CreateLogger(string categoryName) => this;

            public IDisposable BeginScope<TState>(TState state) => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception exception,
                Func<TState, Exception, string> formatter)
            {
                if (IsEnabled(logLevel))
                    Errors.Enqueue((formatter(state, exception), exception));
            }

            public void Dispose()
            {
            }

            public override string ToString() => string.Join("\n", Errors.Select(e => e.Message));
        }
    }
}

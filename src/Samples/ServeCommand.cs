// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Globalization;
using System.IO;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Samples.Serving;

namespace Samples
{
    /// <summary>
    /// <c>serve --model model.zip [--port 5000] [--urls ...]</c>: an ASP.NET Core minimal API over a trained model
    /// (<see cref="ServeEndpoints"/>): <c>POST /predict</c>, a page at <c>/</c>, <c>/model</c> and <c>/health</c>.
    /// Binds to 127.0.0.1 unless <c>--urls</c> says otherwise. The model reloads when its file is replaced
    /// (<see cref="ModelHost"/>); Ctrl+C or SIGTERM stops the server after the requests in flight and disposes the
    /// model.
    /// </summary>
    public static class ServeCommand
    {
        public const string Usage = "--model model.zip [--port 5000] [--urls http://127.0.0.1:5000;...]\n" +
            "            [--scoring batch|pool] [--engines <cores>] [--max-batch 7] [--max-image-mb 20] " +
            "[--threads N]\n" +
            "            (HTTP: POST /predict, GET / page, GET /model, GET /health; reloads a replaced model)";

        /// <summary>
        /// The default scoring of concurrent requests: batching (README, "Serving over HTTP": on 2 cores, 1.5x the
        /// pool's requests/s for 8 clients, the same for 1). A model that batching cannot serve (its FrozenResNet
        /// does not read the request's image column) is served by the pool instead, and the log says so.
        /// </summary>
        public const ScoringMode DefaultScoring = ScoringMode.Batch;

        public static int Run(string[] args)
        {
            const string command = "serve";
            var line = CommandLine.Parse(command, args, "--model", "--port", "--urls", "--scoring", "--engines",
                "--max-batch", "--max-image-mb", "--threads");
            line.NoPositionals();
            string modelPath = line.Required("--model");
            if (!File.Exists(modelPath))
                throw new UsageException($"{command}: the model '{modelPath}' does not exist.");
            if (line.Has("--port") && line.Has("--urls"))
                throw new UsageException($"{command}: give --port or --urls, not both.");
            int port = line.Int("--port", 5000, min: 0, max: 65535);
            string urls = line.String("--urls", $"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}");
            var scoring = line.Parsed("--scoring", DefaultScoring, ParseScoring);
            int engines = line.Int("--engines", Environment.ProcessorCount, min: 1, max: 256);
            int maxBatch = line.Int("--max-batch", RequestBatcher.DefaultMaxBatch, min: 1, max: 1024);
            long maxImageBytes = (long)(line.Double("--max-image-mb", 20, 0, 1024, minExclusive: true)
                * 1024 * 1024);
            int? threads = line.OptionalInt("--threads", min: 1);
            if (threads is int n)
                TorchSharp.torch.set_num_threads(n);

            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = Array.Empty<string>() });
            builder.Logging.ClearProviders();
            builder.Logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss ";
            });
            // The server's own lines, Kestrel's address and errors; not a line per request.
            builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
            builder.WebHost.UseUrls(
                urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            // The app's own limit answers 413 with a message; Kestrel's (30,000,000 bytes by default) stays above it.
            builder.WebHost.ConfigureKestrel(k =>
                k.Limits.MaxRequestBodySize = Math.Max(k.Limits.MaxRequestBodySize ?? 0, maxImageBytes + (1 << 20)));
            builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.NumberHandling =
                System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals);

            var app = builder.Build();
            var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Samples.Serve");
            ModelHost host;
            try
            {
                bool chosen = line.Has("--scoring");
                host = new ModelHost(modelPath, (ml, pipeline) =>
                {
                    if (scoring == ScoringMode.Pool)
                        return new PredictionPool(ml, pipeline, engines);
                    if (chosen || RequestBatcher.CanServe(pipeline, out string why))
                        return new RequestBatcher(pipeline, maxBatch);
                    log.LogWarning("Scoring with a pool of prediction engines: {Why}", why);
                    return new PredictionPool(ml, pipeline, engines);
                }, log);
            }
            catch (Exception e)
            {
                Console.Error.WriteLine($"{command}: cannot serve '{modelPath}': {e.Message}");
                return 1;
            }
            using (host)
            {
                ServeEndpoints.Map(app, host, maxImageBytes);
                app.Run();
                log.LogInformation("Stopped: releasing the model.");
            }
            return 0;
        }

        private static ScoringMode ParseScoring(string text) => text switch
        {
            "pool" => ScoringMode.Pool,
            "batch" => ScoringMode.Batch,
            _ => throw new FormatException("expected pool or batch."),
        };
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.CommandLine;
using System.Globalization;
using System.IO;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.ML;
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
        /// <summary>
        /// The default scoring of concurrent requests: batching (README, "Serving over HTTP": on 2 cores, 1.5x the
        /// pool's requests/s for 8 clients, the same for 1). A model that batching cannot serve (its FrozenResNet
        /// does not read the request's image column) is served by the pool instead, and the log says so.
        /// </summary>
        public const ScoringMode DefaultScoring = ScoringMode.Batch;

        private static readonly Option<string> ModelOption = CliOptions.ModelFile(
            "The model zip that train wrote; replacing the file reloads the model.");

        private static readonly Option<int> PortOption = CliOptions.Int("--port",
            "The port on 127.0.0.1 (0: a free one).", 5000, min: 0, max: 65535);

        private static readonly Option<string> UrlsOption = new Option<string>("--urls")
        {
            Description = "The addresses to listen on, ';'-separated, instead of --port.",
            HelpName = "http://127.0.0.1:5000;...",
        };

        private static readonly Option<string> ScoringOption = CliOptions.Choice("--scoring",
            "How concurrent requests are scored: batched into one forward pass, or a pool of prediction engines " +
            "(default: batch, or pool for a model that batching cannot serve).", null, "batch", "pool");

        private static readonly Option<int> EnginesOption = CliOptions.Int("--engines",
            "The pool's most prediction engines at once (default: the cores).", Environment.ProcessorCount, min: 1,
            max: 256);

        private static readonly Option<int> MaxBatchOption = CliOptions.Int("--max-batch",
            "The most requests batched into one forward pass.", RequestBatcher.DefaultMaxBatch, min: 1, max: 1024);

        private static readonly Option<double> MaxImageMbOption = CliOptions.Double("--max-image-mb",
            "The largest image accepted, in MB (larger: 413).", 20, 0, 1024, minExclusive: true);

        private static readonly Option<int?> ThreadsOption = CliOptions.OptionalInt("--threads",
            "Threads for libtorch (default: all cores).", min: 1);

        /// <summary>The command, its options and their defaults.</summary>
        public static Command Create()
        {
            var command = new Command("serve",
                "Serves a model over HTTP: POST /predict, a page at GET /, GET /model, GET /health. Binds to " +
                "127.0.0.1 unless --urls says otherwise; reloads a replaced model file; Ctrl+C or SIGTERM stops " +
                "after the requests in flight.")
            {
                ModelOption, PortOption, UrlsOption, ScoringOption, EnginesOption, MaxBatchOption, MaxImageMbOption,
                ThreadsOption,
            };
            command.Validators.Add(result =>
            {
                if (result.GetResult(PortOption) is { Implicit: false } && result.GetResult(UrlsOption) != null)
                    result.AddError("give --port or --urls, not both.");
            });
            Program.SetAction(command, Run);
            return command;
        }

        private static int Run(ParseResult parsed)
        {
            const string command = "serve";
            string modelPath = parsed.GetValue(ModelOption);
            if (!File.Exists(modelPath))
                throw new UsageException($"{command}: the model '{modelPath}' does not exist.");
            string urls = parsed.GetValue(UrlsOption)
                ?? $"http://127.0.0.1:{parsed.GetValue(PortOption).ToString(CultureInfo.InvariantCulture)}";
            long maxImageBytes = (long)(parsed.GetValue(MaxImageMbOption) * 1024 * 1024);
            if (parsed.GetValue(ThreadsOption) is int threads)
                TorchSharp.torch.set_num_threads(threads);

            var app = BuildApp(urls, maxImageBytes);
            var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Samples.Serve");
            ModelHost host;
            try
            {
                host = new ModelHost(modelPath, Scorers(parsed, log), log);
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

        // Kestrel on the given addresses, one console line per server event (not per request), the image limit.
        private static WebApplication BuildApp(string urls, long maxImageBytes)
        {
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
            return builder.Build();
        }

        // The scorer of each model the host loads: the one asked for, else batching, or the pool (and the log says
        // why) for a model that batching cannot serve.
        private static Func<MLContext, ITransformer, IImageScorer> Scorers(ParseResult parsed, ILogger log)
        {
            bool chosen = parsed.GetValue(ScoringOption) != null;
            var scoring = chosen ? ParseScoring(parsed.GetValue(ScoringOption)) : DefaultScoring;
            int engines = parsed.GetValue(EnginesOption);
            int maxBatch = parsed.GetValue(MaxBatchOption);
            return (ml, pipeline) =>
            {
                if (scoring == ScoringMode.Pool)
                    return new PredictionPool(ml, pipeline, engines);
                if (chosen || RequestBatcher.CanServe(pipeline, out string why))
                    return new RequestBatcher(pipeline, maxBatch);
                log.LogWarning("Scoring with a pool of prediction engines: {Why}", why);
                return new PredictionPool(ml, pipeline, engines);
            };
        }

        private static ScoringMode ParseScoring(string text) => text switch
        {
            "pool" => ScoringMode.Pool,
            "batch" => ScoringMode.Batch,
            _ => throw new ArgumentOutOfRangeException(nameof(text), text, "not one of the option's choices"),
        };
    }
}

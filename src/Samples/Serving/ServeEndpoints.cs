// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.ML.Freezing;

namespace Samples.Serving
{
    /// <summary>
    /// The HTTP surface of <c>serve</c>: <c>POST /predict</c>, <c>GET /</c> (the page), <c>GET /model</c> and
    /// <c>GET /health</c>. Every error answers JSON <c>{"error": "..."}</c>: 400 for an empty or unreadable image, 413
    /// over the size limit, 500 (logged) for anything else; none of them stops the server.
    /// </summary>
    public static class ServeEndpoints
    {
        /// <summary>How many classes <c>/predict</c> lists.</summary>
        public const int TopCount = 3;

        public static void Map(WebApplication app, ModelHost host, long maxImageBytes)
        {
            var log = app.Services.GetRequiredServiceLogger();
            string page = ReadPage();

            // Whatever an endpoint did not handle itself: logged, and a JSON 500 (not an empty page).
            app.UseExceptionHandler(errors => errors.Run(async context =>
            {
                var error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
                log.LogError(error, "{Method} {Path} failed.", context.Request.Method, context.Request.Path);
                context.Response.StatusCode = StatusCodes.Status500InternalServerError;
                await context.Response.WriteAsJsonAsync(new { error = $"The server failed: {error?.Message}" });
            }));

            app.MapGet("/", () => Results.Content(page, "text/html; charset=utf-8"));
            app.MapGet("/health", () =>
            {
                var model = host.Current;
                return model is null
                    ? Results.Json(new { status = "stopping" }, statusCode: StatusCodes.Status503ServiceUnavailable)
                    : Results.Json(new { status = "ok", generation = model.Generation, sha256 = model.Sha256 });
            });
            app.MapGet("/model", () => Use(host, ModelDescription.Of));
            // A Delegate, not a RequestDelegate: the returned IResult is what gets written.
            app.MapPost("/predict", (Func<HttpContext, Task<IResult>>)(context =>
                PredictAsync(context, host, maxImageBytes, log)));
        }

        private static async Task<IResult> PredictAsync(HttpContext context, ModelHost host, long maxImageBytes,
            ILogger log)
        {
            var request = context.Request;
            try
            {
                // multipart/form-data reads the field 'image'; anything else (image/*, application/octet-stream,
                // even curl's default form type) is the image's bytes.
                bool multipart = request.HasFormContentType
                    && request.ContentType.StartsWith("multipart/", StringComparison.OrdinalIgnoreCase);
                var (image, tooLarge) = multipart
                    ? await ReadFormImageAsync(context, maxImageBytes)
                    : await ReadBodyAsync(request.Body, maxImageBytes, context.RequestAborted);
                if (tooLarge)
                    return Error(StatusCodes.Status413PayloadTooLarge,
                        $"The image is larger than this server's limit of {maxImageBytes:N0} bytes.");
                if (image is null)
                    return Error(StatusCodes.Status400BadRequest,
                        "A multipart/form-data request needs a file in a field named 'image'.");
                if (image.Length == 0)
                    return Error(StatusCodes.Status400BadRequest,
                        "The request has no image: send the image file's bytes as the body (or multipart field " +
                        "'image').");

                var model = host.Acquire();
                try
                {
                    float[] scores = await model.Scorer.ScoreAsync(image, context.RequestAborted);
                    var top = model.ClassNames.Select((label, i) => new TopClass(label, scores[i]))
                        .OrderByDescending(t => t.Score).Take(TopCount).ToArray();
                    return Results.Json(new Prediction(top[0].Label, top));
                }
                finally
                {
                    model.Release();
                }
            }
            catch (Exception e) when (InvalidImageException.Find(e) is { } invalid)
            {
                return Error(StatusCodes.Status400BadRequest, $"The body is not a readable image: {Reason(invalid)}");
            }
            catch (InvalidDataException e)
            {
                // The batcher's decoding (the pool's engines report through InvalidImageException above).
                return Error(StatusCodes.Status400BadRequest, $"The body is not a readable image: {e.Message}");
            }
            catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                return Error(StatusCodes.Status413PayloadTooLarge,
                    $"The request is larger than this server's limit of {maxImageBytes:N0} bytes.");
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                return Results.Empty; // the client went away
            }
            catch (Exception e)
            {
                log.LogError(e, "POST /predict failed.");
                return Error(StatusCodes.Status500InternalServerError, $"Prediction failed: {e.Message}");
            }
        }

        /// <summary>The raw body, at most <paramref name="limit"/> bytes; a longer one is read to its end (so the
        /// client gets the answer rather than a reset connection) and reported as too large.</summary>
        private static async Task<(byte[] Image, bool TooLarge)> ReadBodyAsync(Stream body, long limit,
            CancellationToken cancellationToken)
        {
            using var buffer = new MemoryStream();
            var chunk = new byte[81920];
            long total = 0;
            int n;
            while ((n = await body.ReadAsync(chunk, cancellationToken)) > 0)
            {
                total += n;
                if (total <= limit)
                    buffer.Write(chunk, 0, n);
            }
            return total > limit ? (null, true) : (buffer.ToArray(), false);
        }

        /// <summary>The <c>image</c> field of a multipart form: null when there is none.</summary>
        private static async Task<(byte[] Image, bool TooLarge)> ReadFormImageAsync(HttpContext context, long limit)
        {
            var request = context.Request;
            if (request.ContentLength > limit + 64 * 1024)
            {
                await request.Body.CopyToAsync(Stream.Null, context.RequestAborted);
                return (null, true);
            }
            context.Features.Set<IFormFeature>(new FormFeature(request,
                new FormOptions { MultipartBodyLengthLimit = limit + 64 * 1024 }));
            IFormCollection form;
            try
            {
                form = await request.ReadFormAsync(context.RequestAborted);
            }
            catch (InvalidDataException e) when (e.Message.Contains("limit", StringComparison.OrdinalIgnoreCase))
            {
                return (null, true);
            }
            var file = form.Files.GetFile("image");
            if (file is null)
                return (null, false);
            if (file.Length > limit)
                return (null, true);
            using var buffer = new MemoryStream((int)file.Length);
            await file.CopyToAsync(buffer, context.RequestAborted);
            return (buffer.ToArray(), false);
        }

        private static IResult Use(ModelHost host, Func<LoadedModel, object> describe)
        {
            var model = host.Acquire();
            try
            {
                return Results.Json(describe(model));
            }
            finally
            {
                model.Release();
            }
        }

        private static IResult Error(int status, string message)
            => Results.Json(new { error = message }, statusCode: status);

        // "Column 'ImageSource', row 0: cannot decode ..." -> "cannot decode ..." (the row means nothing to a client).
        private static string Reason(InvalidImageException invalid)
        {
            string message = invalid.Message;
            int colon = message.IndexOf(": ", StringComparison.Ordinal);
            return colon >= 0 && message.StartsWith("Column ", StringComparison.Ordinal) ? message[(colon + 2)..]
                : message;
        }

        private static string ReadPage()
        {
            using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Samples.Serving.index.html")
                ?? throw new InvalidOperationException("The page resource Samples.Serving.index.html is missing.");
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd();
        }

        private static ILogger GetRequiredServiceLogger(this IServiceProvider services)
            => ((ILoggerFactory)services.GetService(typeof(ILoggerFactory))).CreateLogger("Samples.Serve");

        /// <summary>One class and its probability.</summary>
        public sealed record TopClass(string Label, float Score);

        /// <summary>The answer of <c>POST /predict</c>.</summary>
        public sealed record Prediction(string PredictedLabel, TopClass[] Top);
    }
}

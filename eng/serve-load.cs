// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

// The load generator of eng/serve-bench.sh (a .NET 10 file-based program: `dotnet run eng/serve-load.cs -- ...`):
//   serve-load <base url> <image file> <clients> <seconds>
// N clients each POST the image to /predict back to back for the given time (after a 2-second warm-up that is not
// counted) and the program prints one line: clients, requests, requests/s, median and 95th-percentile latency in ms,
// and the number of answers that were not 200 (any makes it exit 1). Sends to the given address only (loopback in the
// script).
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Threading;
using System.Threading.Tasks;

if (args.Length != 4)
{
    Console.Error.WriteLine("usage: serve-load <base url> <image file> <clients> <seconds>");
    return 2;
}
var address = new Uri(args[0].TrimEnd('/') + "/predict");
byte[] image = File.ReadAllBytes(args[1]);
int clients = int.Parse(args[2], CultureInfo.InvariantCulture);
double seconds = double.Parse(args[3], CultureInfo.InvariantCulture);

using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = clients + 1 });
int errors = 0;
var latencies = new List<double>[clients];

async Task Run(int client, TimeSpan duration, bool record)
{
    var watch = Stopwatch.StartNew();
    while (watch.Elapsed < duration)
    {
        var content = new ByteArrayContent(image);
        content.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        long start = Stopwatch.GetTimestamp();
        using var response = await http.PostAsync(address, content);
        await response.Content.ReadAsByteArrayAsync();
        double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        if (!response.IsSuccessStatusCode)
            Interlocked.Increment(ref errors);
        if (record)
            latencies[client].Add(ms);
    }
}

for (int c = 0; c < clients; c++)
    latencies[c] = new List<double>();
await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Run(c, TimeSpan.FromSeconds(2), record: false)));
var total = Stopwatch.StartNew();
await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Run(c, TimeSpan.FromSeconds(seconds), record: true)));
double elapsed = total.Elapsed.TotalSeconds;
var all = latencies.SelectMany(l => l).OrderBy(x => x).ToArray();
double Percentile(double p) => all.Length == 0 ? double.NaN : all[Math.Min(all.Length - 1, (int)(p * all.Length))];
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"clients {clients}  requests {all.Length}  req/s {all.Length / elapsed:F1}  p50 {Percentile(0.5):F1} ms  " +
    $"p95 {Percentile(0.95):F1} ms  errors {errors}"));
return errors == 0 ? 0 : 1;

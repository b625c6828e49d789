// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;

namespace Microsoft.ML.Freezing.Benchmarks
{
    internal static class Stats
    {
        public static double Median(IEnumerable<double> values)
        {
            var v = values.OrderBy(x => x).ToArray();
            if (v.Length == 0) return double.NaN;
            return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
        }

        /// <summary>The median of the per-repetition ratios a[i]/b[i] (pairs measured back to back).</summary>
        public static double PairedRatio(IReadOnlyList<double> a, IReadOnlyList<double> b)
            => Median(a.Zip(b, (x, y) => x / y));

        public static string F(double v, int decimals = 1) => double.IsNaN(v) ? "-"
            : v.ToString("F" + decimals, CultureInfo.InvariantCulture);

        public static string Load()
        {
            try
            {
                var f = File.ReadAllText("/proc/loadavg").Split(' ');
                return $"{f[0]} {f[1]} {f[2]}";
            }
            catch (IOException)
            {
                return "?";
            }
        }
    }

    /// <summary>Samples of several named series, measured in alternation.</summary>
    internal sealed class Series
    {
        private readonly Dictionary<string, List<double>> _samples = new Dictionary<string, List<double>>();

        public void Add(string name, double value)
        {
            if (!_samples.TryGetValue(name, out var list))
                _samples[name] = list = new List<double>();
            list.Add(value);
        }

        public IReadOnlyList<double> this[string name] => _samples.TryGetValue(name, out var l) ? l
            : (IReadOnlyList<double>)Array.Empty<double>();
        public double Median(string name) => Stats.Median(this[name]);
        public string Spread(string name) => this[name].Count == 0 ? ""
            : $"[{Stats.F(this[name].Min())}..{Stats.F(this[name].Max())}]";
    }
}

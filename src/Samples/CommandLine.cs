// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Globalization;

namespace Samples
{
    /// <summary>
    /// A parsed command line of the form <c>--name value ... positional ...</c>: options are looked up by name with
    /// typed getters, and every malformed or unknown piece becomes a <see cref="UsageException"/> that names the
    /// command.
    /// </summary>
    public sealed class CommandLine
    {
        private readonly string _command;
        private readonly Dictionary<string, string> _values = new Dictionary<string, string>(StringComparer.Ordinal);
        private readonly List<string> _positionals = new List<string>();

        private CommandLine(string command) => _command = command;

        /// <summary>
        /// Parses <paramref name="args"/>: each of <paramref name="options"/> (written with their leading <c>--</c>)
        /// takes one value; anything else starting with <c>--</c> is an error; the rest are positional arguments.
        /// </summary>
        public static CommandLine Parse(string command, string[] args, params string[] options)
        {
            var known = new HashSet<string>(options, StringComparer.Ordinal);
            var line = new CommandLine(command);
            for (int i = 0; i < args.Length; i++)
            {
                string arg = args[i];
                if (!arg.StartsWith("--", StringComparison.Ordinal) || arg == "--")
                {
                    line._positionals.Add(arg);
                    continue;
                }
                if (!known.Contains(arg))
                    throw new UsageException($"{command}: unknown option '{arg}'.");
                if (i + 1 >= args.Length)
                    throw new UsageException($"{command}: option '{arg}' needs a value.");
                if (line._values.ContainsKey(arg))
                    throw new UsageException($"{command}: option '{arg}' is given twice.");
                line._values[arg] = args[++i];
            }
            return line;
        }

        /// <summary>True when <c>-h</c>, <c>--help</c> or <c>help</c> is among the arguments.</summary>
        public static bool WantsHelp(string[] args) => Array.Exists(args, a => a == "-h" || a == "--help");

        /// <summary>Positional arguments in order.</summary>
        public IReadOnlyList<string> Positionals => _positionals;

        /// <summary>Whether the option was given.</summary>
        public bool Has(string option) => _values.ContainsKey(option);

        /// <summary>The option's text, or <paramref name="fallback"/> when it is absent.</summary>
        public string String(string option, string fallback = null) => _values.TryGetValue(option, out var v) ? v
            : fallback;

        /// <summary>The option's text; a usage error when it is absent.</summary>
        public string Required(string option)
            => _values.TryGetValue(option, out var v) ? v
                : throw new UsageException($"{_command}: option '{option}' is required.");

        /// <summary>An integer option within [<paramref name="min"/>, <paramref name="max"/>].</summary>
        public int Int(string option, int fallback, int min = int.MinValue, int max = int.MaxValue)
        {
            if (!_values.TryGetValue(option, out var text))
                return fallback;
            if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) || n < min
                || n > max)
                throw new UsageException($"{_command}: {option} needs an integer " +
                    (max == int.MaxValue ? $"of at least {min}" : $"in [{min}, {max}]") + $"; got '{text}'.");
            return n;
        }

        /// <summary>An optional integer option (null when absent) of at least <paramref name="min"/>.</summary>
        public int? OptionalInt(string option, int min) => Has(option) ? Int(option, 0, min) : null;

        /// <summary>A number option within [<paramref name="min"/>, <paramref name="max"/>] (an open bound when the
        /// matching flag is set).</summary>
        public double Double(string option, double fallback, double min, double max, bool minExclusive = false,
            bool maxExclusive = false)
        {
            if (!_values.TryGetValue(option, out var text))
                return fallback;
            bool ok = double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double x)
                && double.IsFinite(x)
                && (minExclusive ? x > min : x >= min) && (maxExclusive ? x < max : x <= max);
            if (!ok)
                throw new UsageException(
                    $"{_command}: {option} needs a number in {(minExclusive ? "(" : "[")}{Format(min)}, " +
                    $"{Format(max)}{(maxExclusive ? ")" : "]")}; got '{text}'.");
            return x;
        }

        /// <summary>Parses an option with a library parser; a <see cref="FormatException"/> or argument error becomes a
        /// usage error.</summary>
        public T Parsed<T>(string option, T fallback, Func<string, T> parse)
        {
            if (!_values.TryGetValue(option, out var text))
                return fallback;
            try
            {
                return parse(text);
            }
            catch (Exception e) when (e is FormatException || e is ArgumentException)
            {
                // ArgumentException appends " (Parameter 'name')", which means nothing on a command line.
                string message = e is ArgumentException a && a.ParamName != null
                    ? a.Message.Replace($" (Parameter '{a.ParamName}')", "") : e.Message;
                throw new UsageException($"{_command}: {option} '{text}': {message}");
            }
        }

        /// <summary>No positional arguments are expected.</summary>
        public void NoPositionals()
        {
            if (_positionals.Count > 0)
                throw new UsageException($"{_command}: unexpected argument '{_positionals[0]}'.");
        }

        private static string Format(double x) => double.IsInfinity(x) ? (x > 0 ? "inf" : "-inf")
            : x.ToString(CultureInfo.InvariantCulture);
    }
}

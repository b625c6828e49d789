// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Linq;

namespace Samples
{
    /// <summary>
    /// The kinds of option the sample's commands declare (System.CommandLine): numbers are read in the invariant
    /// culture and checked against their range by a validator, choices are matched case-insensitively, and values that
    /// a library parser reads (a freeze mask, an unfreeze schedule) keep that parser's message. Every error names its
    /// option.
    /// </summary>
    internal static class CliOptions
    {
        /// <summary>The required <c>--model</c> option of the commands that read a model zip.</summary>
        public static Option<string> ModelFile(string description = "The model zip that train wrote.")
            => new Option<string>("--model") { Description = description, HelpName = "model.zip", Required = true };

        /// <summary>An integer option in [<paramref name="min"/>, <paramref name="max"/>] with a default.</summary>
        public static Option<int> Int(string name, string description, int defaultValue, int min = int.MinValue,
            int max = int.MaxValue)
        {
            var option = new Option<int>(name)
            {
                Description = description,
                HelpName = "N",
                DefaultValueFactory = _ => defaultValue,
                CustomParser = result => ParseInt(result, name, min, max) ?? 0,
            };
            option.Validators.Add(result => CheckInt(result, name, min, max));
            return option;
        }

        /// <summary>An integer option of at least <paramref name="min"/>; null when it is not given.</summary>
        public static Option<int?> OptionalInt(string name, string description, int min)
        {
            var option = new Option<int?>(name)
            {
                Description = description,
                HelpName = "N",
                CustomParser = result => ParseInt(result, name, min, int.MaxValue),
            };
            option.Validators.Add(result => CheckInt(result, name, min, int.MaxValue));
            return option;
        }

        /// <summary>A number option in the interval from <paramref name="min"/> to <paramref name="max"/> (open at
        /// an end whose flag is set) with a default.</summary>
        public static Option<double> Double(string name, string description, double defaultValue, double min,
            double max, bool minExclusive = false, bool maxExclusive = false)
        {
            var range = new Range(min, max, minExclusive, maxExclusive);
            var option = new Option<double>(name)
            {
                Description = description,
                HelpName = "X",
                DefaultValueFactory = _ => defaultValue,
                CustomParser = result => ParseDouble(result, name, range) ?? 0,
            };
            option.Validators.Add(result => CheckDouble(result, name, range));
            return option;
        }

        /// <summary>A number option like <see cref="Double"/>; null when it is not given.</summary>
        public static Option<double?> OptionalDouble(string name, string description, double min, double max,
            bool minExclusive = false, bool maxExclusive = false)
        {
            var range = new Range(min, max, minExclusive, maxExclusive);
            var option = new Option<double?>(name)
            {
                Description = description,
                HelpName = "X",
                CustomParser = result => ParseDouble(result, name, range),
            };
            option.Validators.Add(result => CheckDouble(result, name, range));
            return option;
        }

        /// <summary>One of <paramref name="choices"/> (any case; the value is the choice as written here); null
        /// when it is not given and <paramref name="defaultValue"/> is null.</summary>
        public static Option<string> Choice(string name, string description, string defaultValue,
            params string[] choices)
        {
            var option = new Option<string>(name)
            {
                Description = description,
                HelpName = string.Join("|", choices),
                CustomParser = result =>
                {
                    string text = result.Tokens.Single().Value;
                    string choice = Array.Find(choices,
                        c => string.Equals(c, text, StringComparison.OrdinalIgnoreCase));
                    if (choice == null)
                        result.AddError($"{name} '{text}': expected {Enumerate(choices)}.");
                    return choice;
                },
            };
            if (defaultValue != null)
                option.DefaultValueFactory = _ => defaultValue;
            option.CompletionSources.Add(choices);
            return option;
        }

        /// <summary>An option read by a library parser; its <see cref="FormatException"/> or
        /// <see cref="ArgumentException"/> becomes the option's error. Null when it is not given.</summary>
        public static Option<T> Parsed<T>(string name, string description, string helpName, Func<string, T> parse)
            where T : class
            => new Option<T>(name)
            {
                Description = description,
                HelpName = helpName,
                CustomParser = result =>
                {
                    string text = result.Tokens.Single().Value;
                    try
                    {
                        return parse(text);
                    }
                    catch (Exception e) when (e is FormatException || e is ArgumentException)
                    {
                        result.AddError($"{name} '{text}': {Message(e)}");
                        return null;
                    }
                },
            };

        /// <summary>An exception's message for a command line: <see cref="ArgumentException"/> appends
        /// " (Parameter 'name')", which means nothing there.</summary>
        public static string Message(Exception e) => e is ArgumentException a && a.ParamName != null
            ? a.Message.Replace($" (Parameter '{a.ParamName}')", "", StringComparison.Ordinal) : e.Message;

        /// <summary>Whether the option was given on the command line (not only defaulted).</summary>
        public static bool IsGiven(this ParseResult parsed, Option option)
            => parsed.GetResult(option) is { Implicit: false };

        private readonly record struct Range(double Min, double Max, bool MinExclusive, bool MaxExclusive)
        {
            public bool Contains(double x)
                => (MinExclusive ? x > Min : x >= Min) && (MaxExclusive ? x < Max : x <= Max);

            public override string ToString() => $"{(MinExclusive ? "(" : "[")}{Format(Min)}, {Format(Max)}" +
                $"{(MaxExclusive ? ")" : "]")}";
        }

        private static int? ParseInt(ArgumentResult result, string name, int min, int max)
        {
            string text = result.Tokens.Single().Value;
            if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n))
                return n;
            result.AddError(IntError(name, min, max, text));
            return null;
        }

        // The range check: a parsed value outside [min, max]. (Text that is no integer failed in ParseInt already.)
        private static void CheckInt(OptionResult result, string name, int min, int max)
        {
            if (result.Tokens.Count == 1
                && int.TryParse(result.Tokens[0].Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n)
                && (n < min || n > max))
                result.AddError(IntError(name, min, max, result.Tokens[0].Value));
        }

        private static string IntError(string name, int min, int max, string text)
            => $"{name} needs an integer " + (max == int.MaxValue ? $"of at least {min}" : $"in [{min}, {max}]") +
                $"; got '{text}'.";

        private static double? ParseDouble(ArgumentResult result, string name, Range range)
        {
            string text = result.Tokens.Single().Value;
            if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double x)
                && double.IsFinite(x))
                return x;
            result.AddError($"{name} needs a number in {range}; got '{text}'.");
            return null;
        }

        private static void CheckDouble(OptionResult result, string name, Range range)
        {
            if (result.Tokens.Count == 1
                && double.TryParse(result.Tokens[0].Value, NumberStyles.Float, CultureInfo.InvariantCulture,
                    out double x)
                && double.IsFinite(x) && !range.Contains(x))
                result.AddError($"{name} needs a number in {range}; got '{result.Tokens[0].Value}'.");
        }

        private static string Enumerate(string[] choices)
            => choices.Length == 1 ? choices[0] : string.Join(", ", choices[..^1]) + " or " + choices[^1];

        private static string Format(double x) => double.IsInfinity(x) ? (x > 0 ? "inf" : "-inf")
            : x.ToString(CultureInfo.InvariantCulture);
    }
}

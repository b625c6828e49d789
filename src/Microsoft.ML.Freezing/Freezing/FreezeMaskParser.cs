// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Recursive-descent parser of the <see cref="FreezeMask"/> text form:
    /// <c>union := except (',' except)*</c>, <c>except := atom ('-' atom)*</c>,
    /// <c>atom := '(' union ')' | none | all | stage | stage '..' stage | glob</c>.
    /// </summary>
    internal sealed class FreezeMaskParser
    {
        private readonly string _text;
        private int _pos;

        public FreezeMaskParser(string text) => _text = text;

        public FreezeMask ParseAll()
        {
            var mask = ParseUnion();
            SkipSpace();
            if (_pos < _text.Length)
                throw Error($"unexpected '{_text[_pos]}' at position {_pos}");
            return mask;
        }

        private FreezeMask ParseUnion()
        {
            var mask = ParseExcept();
            while (TryConsume(','))
                mask = mask.Union(ParseExcept());
            return mask;
        }

        private FreezeMask ParseExcept()
        {
            var mask = ParseAtom();
            while (TryConsume('-'))
                mask = mask.Except(ParseAtom());
            return mask;
        }

        private FreezeMask ParseAtom()
        {
            if (TryConsume('('))
            {
                var inner = ParseUnion();
                if (!TryConsume(')'))
                    throw Error($"missing ')' at position {_pos}");
                return inner;
            }
            SkipSpace();
            int start = _pos;
            while (_pos < _text.Length && (char.IsLetterOrDigit(_text[_pos]) || "._*?".IndexOf(_text[_pos]) >= 0))
                _pos++;
            string word = _text.Substring(start, _pos - start);
            if (word.Length == 0)
                throw Error(_pos < _text.Length ? $"unexpected '{_text[_pos]}' at position {_pos}"
                    : "a term is missing at the end");
            return ParseWord(word);
        }

        private FreezeMask ParseWord(string word)
        {
            if (word.Equals("none", StringComparison.OrdinalIgnoreCase))
                return FreezeMask.None;
            if (word.Equals("all", StringComparison.OrdinalIgnoreCase))
                return FreezeMask.Stages(ResNetStages.All);

            int range = word.IndexOf("..", StringComparison.Ordinal);
            if (range >= 0 && word.IndexOfAny(new[] { '*', '?' }) < 0)
            {
                var first = Stage(word.Substring(0, range), word);
                var last = Stage(word.Substring(range + 2), word);
                if (last < first)
                    throw Error($"stage range '{word}' runs backwards");
                return FreezeMask.Stages(ResNetStages.All.Where(s => s >= first && s <= last).ToArray());
            }
            // A word with a dot or wildcard is a parameter-name glob; anything else must be a stage.
            if (word.IndexOfAny(new[] { '.', '*', '?' }) >= 0)
            {
                try
                {
                    return FreezeMask.Glob(word);
                }
                catch (ArgumentException ex)
                {
                    throw Error(ex.Message);
                }
            }
            return FreezeMask.Stages(Stage(word, word));
        }

        private ResNetStage Stage(string name, string context)
        {
            if (ResNetStages.TryParse(name, out var stage))
                return stage;
            string where = name == context ? "" : $" in '{context}'";
            throw Error(
                $"unknown stage '{name}'{where} (stages: " +
                $"{string.Join(", ", ResNetStages.All.Select(s => s.Name()))}; parameter globs contain '.' or '*')");
        }

        private bool TryConsume(char c)
        {
            SkipSpace();
            if (_pos < _text.Length && _text[_pos] == c)
            {
                _pos++;
                return true;
            }
            return false;
        }

        private void SkipSpace()
        {
            while (_pos < _text.Length && char.IsWhiteSpace(_text[_pos]))
                _pos++;
        }

        private FormatException Error(string what) => new FormatException($"Invalid freeze mask '{_text}': {what}.");
    }
}

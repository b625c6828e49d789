// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.RegularExpressions;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Which parameters of a ResNet are frozen (<c>requires_grad = false</c>), by stage or by parameter name.
    /// </summary>
    /// <remarks>
    /// Text form (<see cref="Parse"/>, <see cref="ToString"/>): a comma-separated union of terms; <c>a-b</c> removes
    /// <c>b</c> from <c>a</c> (binds tighter than the comma); parentheses group. A term is <c>none</c>, <c>all</c>, a
    /// stage (<c>stem</c>, <c>layer1</c>..<c>layer4</c>, <c>head</c>), a stage range (<c>stem..layer2</c>) or a
    /// parameter-name glob (<c>layer4.*.bn*</c>, <c>fc.bias</c>; <c>*</c> matches any run of characters, <c>?</c> one).
    /// Examples: <c>stem..layer3</c>, <c>stem..layer4-layer4.*.bn*</c>. A stage counts as frozen when any of its
    /// parameters is frozen.
    /// </remarks>
    public sealed class FreezeMask
    {
        private readonly MaskTerm _term;

        private FreezeMask(MaskTerm term) => _term = term;

        /// <summary>Nothing frozen.</summary>
        public static FreezeMask None { get; } = new FreezeMask(new NoneTerm());

        /// <summary>Everything but the head (stem..layer4): a linear probe.</summary>
        public static FreezeMask AllButHead { get; } = UpTo(ResNetStage.Layer4);

        /// <summary>Stem..<paramref name="last"/> inclusive. <c>UpTo(Head)</c> is an error: nothing would
        /// train.</summary>
        public static FreezeMask UpTo(ResNetStage last)
        {
            if (last == ResNetStage.Head)
                throw new ArgumentException(
                    "FreezeMask.UpTo(Head) would freeze every stage, so nothing would train; use AllButHead or " +
                    "UpTo(Layer4).", nameof(last));
            return Stages(ResNetStages.All.Where(s => s <= last).ToArray());
        }

        /// <summary>The named stages.</summary>
        public static FreezeMask Stages(params ResNetStage[] stages)
        {
            if (stages == null || stages.Length == 0)
                return None;
            return new FreezeMask(new StageTerm(new SortedSet<ResNetStage>(stages)));
        }

        /// <summary>Parameters whose state-dict name matches a glob (<c>*</c>, <c>?</c>).</summary>
        public static FreezeMask Glob(string pattern)
        {
            if (string.IsNullOrWhiteSpace(pattern))
                throw new ArgumentException("A parameter glob cannot be empty.", nameof(pattern));
            return new FreezeMask(new GlobTerm(pattern.Trim()));
        }

        /// <summary>
        /// Parameters selected by a predicate over state-dict names. Such a mask has no text form:
        /// its <see cref="ToString"/> is <c>where(description)</c>, which <see cref="Parse"/> rejects.
        /// </summary>
        public static FreezeMask Where(Func<string, bool> predicate, string description = "predicate")
            => new FreezeMask(
                new PredicateTerm(predicate ?? throw new ArgumentNullException(nameof(predicate)), description));

        /// <summary>Parameters frozen by this mask or by <paramref name="other"/>.</summary>
        public FreezeMask Union(FreezeMask other)
        {
            if (other == null) throw new ArgumentNullException(nameof(other));
            if (_term is NoneTerm) return other;
            if (other._term is NoneTerm) return this;
            if (_term is StageTerm a && other._term is StageTerm b)
                return Stages(a.Stages.Concat(b.Stages).ToArray());
            return new FreezeMask(new UnionTerm(Flatten(_term).Concat(Flatten(other._term)).ToArray()));
        }

        /// <summary>Parameters frozen by this mask but not by <paramref name="other"/>.</summary>
        public FreezeMask Except(FreezeMask other)
        {
            if (other == null) throw new ArgumentNullException(nameof(other));
            if (_term is NoneTerm || other._term is NoneTerm) return this;
            if (_term is StageTerm a && other._term is StageTerm b)
                return Stages(a.Stages.Except(b.Stages).ToArray());
            return new FreezeMask(new ExceptTerm(_term, other._term));
        }

        /// <summary>Whether the parameter with this state-dict name is frozen.</summary>
        public bool IsFrozen(string parameterName) => _term.Matches(parameterName);

        /// <summary>True for <see cref="None"/> and anything equivalent by construction.</summary>
        public bool IsEmpty => _term is NoneTerm;

        /// <summary>
        /// Checks the mask against a network's parameter names: every glob must match at least one of them.
        /// Throws <see cref="ArgumentException"/> naming the globs that match nothing.
        /// </summary>
        public void Validate(IEnumerable<string> parameterNames)
        {
            var names = parameterNames.ToList();
            var dead = _term.Globs().Where(g => !names.Any(g.Matches)).Select(g => g.Pattern).Distinct().ToList();
            if (dead.Count > 0)
                throw new ArgumentException(
                    $"Freeze mask '{this}': glob{(dead.Count > 1 ? "s" : "")} " +
                    $"{string.Join(", ", dead.Select(d => $"'{d}'"))} match{(dead.Count > 1 ? "" : "es")} no " +
                    "parameter of the network.");
        }

        /// <summary>The stages with at least one frozen parameter among <paramref name="parameterNames"/>.</summary>
        public IReadOnlyList<ResNetStage> FrozenStages(IEnumerable<string> parameterNames)
            => parameterNames.Where(IsFrozen).Select(ResNetStages.OfParameter).Distinct().OrderBy(s => s).ToList();

        /// <summary>The text form; <c>Parse(mask.ToString())</c> gives an equivalent mask (except for
        /// <see cref="Where"/>).</summary>
        public override string ToString() => _term.ToString();

        /// <summary>Parses the text form (see the remarks of <see cref="FreezeMask"/>). Empty or null text is
        /// <see cref="None"/>.</summary>
        /// <exception cref="FormatException">An unknown stage, a malformed range or glob, or a syntax error, named in
        /// the message.</exception>
        public static FreezeMask Parse(string text)
        {
            if (string.IsNullOrWhiteSpace(text))
                return None;
            return new FreezeMaskParser(text).ParseAll();
        }

        internal static FreezeMask FromTerm(MaskTerm term) => new FreezeMask(term);

        private static IEnumerable<MaskTerm> Flatten(MaskTerm term) => term is UnionTerm u ? u.Terms : new[] { term };
    }

    internal abstract class MaskTerm
    {
        public abstract bool Matches(string name);
        public virtual IEnumerable<GlobTerm> Globs() => Enumerable.Empty<GlobTerm>();
    }

    internal sealed class NoneTerm : MaskTerm
    {
        public override bool Matches(string name) => false;
        public override string ToString() => "none";
    }

    internal sealed class StageTerm : MaskTerm
    {
        public StageTerm(SortedSet<ResNetStage> stages) => Stages = stages;
        public SortedSet<ResNetStage> Stages { get; }
        public override bool Matches(string name) => Stages.Contains(ResNetStages.OfParameter(name));

        public override string ToString()
        {
            if (Stages.Count == ResNetStages.All.Length) return "all";
            // Contiguous runs print as ranges: stem..layer2,head.
            var parts = new List<string>();
            var list = Stages.ToList();
            for (int i = 0; i < list.Count;)
            {
                int j = i;
                while (j + 1 < list.Count && list[j + 1] == list[j] + 1) j++;
                parts.Add(j == i ? list[i].Name() : $"{list[i].Name()}..{list[j].Name()}");
                i = j + 1;
            }
            return string.Join(",", parts);
        }
    }

    internal sealed class GlobTerm : MaskTerm
    {
        private readonly Regex _regex;

        public GlobTerm(string pattern)
        {
            if (pattern.Any(c => !(char.IsLetterOrDigit(c) || c == '.' || c == '_' || c == '*' || c == '?')))
                throw new ArgumentException(
                    $"Invalid parameter glob '{pattern}': use letters, digits, '.', '_', '*' and '?'.");
            Pattern = pattern;
            _regex = new Regex("^" + Regex.Escape(pattern).Replace(@"\*", ".*").Replace(@"\?", ".") + "$",
                RegexOptions.CultureInvariant);
        }

        public string Pattern { get; }
        public override bool Matches(string name) => _regex.IsMatch(name);
        public override IEnumerable<GlobTerm> Globs() => new[] { this };
        public override string ToString() => Pattern;
    }

    internal sealed class PredicateTerm : MaskTerm
    {
        private readonly Func<string, bool> _predicate;
        private readonly string _description;

        public PredicateTerm(Func<string, bool> predicate, string description)
        {
            _predicate = predicate;
            _description = description;
        }

        public override bool Matches(string name) => _predicate(name);
        public override string ToString() => $"where({_description})";
    }

    internal sealed class UnionTerm : MaskTerm
    {
        public UnionTerm(MaskTerm[] terms) => Terms = terms;
        public MaskTerm[] Terms { get; }
        public override bool Matches(string name) => Terms.Any(t => t.Matches(name));
        public override IEnumerable<GlobTerm> Globs() => Terms.SelectMany(t => t.Globs());
        public override string ToString() => string.Join(",", Terms.Select(t => t.ToString()));
    }

    internal sealed class ExceptTerm : MaskTerm
    {
        public ExceptTerm(MaskTerm include, MaskTerm exclude)
        {
            Include = include;
            Exclude = exclude;
        }

        public MaskTerm Include { get; }
        public MaskTerm Exclude { get; }
        public override bool Matches(string name) => Include.Matches(name) && !Exclude.Matches(name);
        public override IEnumerable<GlobTerm> Globs() => Include.Globs().Concat(Exclude.Globs());

        // '-' is left-associative and binds tighter than ',': a union on either side, or an
        // exception on the right, needs parentheses.
        public override string ToString() => $"{Wrap(Include, false)}-{Wrap(Exclude, true)}";

        private static string Wrap(MaskTerm term, bool right)
        {
            bool composite = term is UnionTerm || (term is StageTerm s && s.ToString().Contains(','))
                || (right && term is ExceptTerm);
            return composite ? $"({term})" : term.ToString();
        }
    }
}

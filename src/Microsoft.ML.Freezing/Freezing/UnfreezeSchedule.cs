// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// When frozen parameters thaw during training. Epochs count from 0; a thaw takes effect at the start of its epoch.
    /// None, gradual, at and custom are planned: every epoch's mask is known before training (<see cref="Plan"/>).
    /// <see cref="Auto"/> reacts to validation loss instead (it has no plan).
    /// </summary>
    public abstract partial class UnfreezeSchedule : ThawPolicy
    {
        private protected UnfreezeSchedule() { }

        /// <summary>The initial mask holds for the whole run.</summary>
        public static UnfreezeSchedule None { get; } = new NoUnfreezing();

        /// <summary>
        /// ULMFiT's gradual unfreezing: at the start of epoch <paramref name="startEpoch"/>, and every
        /// <paramref name="every"/> epochs after, the top-most frozen stage thaws entirely.
        /// </summary>
        public static UnfreezeSchedule Gradual(int startEpoch = 1, int every = 1)
        {
            if (startEpoch < 0) throw new ArgumentOutOfRangeException(nameof(startEpoch),
                "The first thaw epoch cannot be negative.");
            if (every < 1) throw new ArgumentOutOfRangeException(nameof(every),
                "Stages thaw at least one epoch apart.");
            return new GradualUnfreezing(startEpoch, every);
        }

        /// <summary>Everything thaws at the start of <paramref name="epoch"/>.</summary>
        public static UnfreezeSchedule At(int epoch)
        {
            if (epoch < 0) throw new ArgumentOutOfRangeException(nameof(epoch), "The thaw epoch cannot be negative.");
            return new CustomUnfreezing(new Dictionary<int, FreezeMask> { [epoch] = FreezeMask.None }, $"at({epoch})");
        }

        /// <summary>From each listed epoch on, the given mask is in force.</summary>
        public static UnfreezeSchedule Custom(IReadOnlyDictionary<int, FreezeMask> masks)
        {
            if (masks == null) throw new ArgumentNullException(nameof(masks));
            if (masks.Keys.Any(e => e < 0)) throw new ArgumentOutOfRangeException(nameof(masks),
                "Schedule epochs cannot be negative.");
            var copy = masks.ToDictionary(kv => kv.Key,
                kv => kv.Value
                ?? throw new ArgumentNullException(nameof(masks), $"The mask for epoch {kv.Key} is null."));
            return new CustomUnfreezing(copy,
                "custom(" + string.Join("; ", copy.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}: {kv.Value}")) + ")");
        }

        /// <summary>
        /// Parses <c>none</c>, <c>gradual</c>, <c>gradual(start,every)</c>, <c>at(epoch)</c>, <c>auto</c>,
        /// <c>auto(patience)</c> or <c>auto(patience,minDelta)</c>.
        /// </summary>
        public static UnfreezeSchedule Parse(string text)
        {
            string t = (text ?? "").Trim().ToLowerInvariant().Replace(" ", "");
            if (t.Length == 0 || t == "none") return None;
            if (t == "gradual") return Gradual();
            if (t == "auto") return Auto();
            int open = t.IndexOf('(');
            string name = open > 0 ? t.Substring(0, open) : t;
            double[] args = open > 0 ? ParseArguments(t.Substring(open)) : null;
            bool integers = args != null && args.All(a => a == Math.Floor(a) && Math.Abs(a) <= int.MaxValue);
            if (integers && name == "gradual" && args.Length <= 2)
                return Gradual(args.Length > 0 ? (int)args[0] : 1, args.Length > 1 ? (int)args[1] : 1);
            if (integers && name == "at" && args.Length == 1)
                return At((int)args[0]);
            bool integerPatience = args != null && (args.Length == 0 || args[0] == Math.Floor(args[0]));
            if (integerPatience && name == "auto" && args.Length <= 2)
                return Auto(args.Length > 0 ? (int)args[0] : 1, args.Length > 1 ? args[1] : DefaultAutoMinDelta);
            throw new FormatException($"Invalid unfreezing schedule '{text}': expected none, gradual, " +
                "gradual(start,every), at(epoch), auto, auto(patience) or auto(patience,minDelta).");
        }

        // "(1,2.5)" -> [1, 2.5]; "()" -> []; null when it is not a parenthesised list of numbers.
        private static double[] ParseArguments(string list)
        {
            if (!list.EndsWith(")", StringComparison.Ordinal))
                return null;
            string inner = list.Substring(1, list.Length - 2);
            if (inner.Length == 0)
                return Array.Empty<double>();
            var parts = inner.Split(',');
            var values = new double[parts.Length];
            for (int i = 0; i < parts.Length; i++)
            {
                if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]))
                    return null;
            }
            return values;
        }

        /// <summary>
        /// The mask in force at each epoch of a run of <paramref name="epochs"/> epochs that starts from
        /// <paramref name="initial"/>. A schedule epoch at or past the end of the run is an error; a thaw with nothing
        /// left to thaw is reported through <paramref name="log"/> and changes nothing.
        /// </summary>
        public IReadOnlyList<FreezeMask> Plan(FreezeMask initial, IReadOnlyList<string> parameterNames, int epochs,
            Action<string> log = null)
        {
            if (!IsPlanned)
                throw new InvalidOperationException(
                    $"Unfreezing schedule {this} reacts to validation: it has no plan.");
            if (initial == null) throw new ArgumentNullException(nameof(initial));
            if (epochs < 1) throw new ArgumentOutOfRangeException(nameof(epochs), "A run has at least one epoch.");
            Validate(epochs);
            var masks = new FreezeMask[epochs];
            var current = initial;
            for (int epoch = 0; epoch < epochs; epoch++)
            {
                current = Step(epoch, current, parameterNames, log);
                masks[epoch] = current;
            }
            return masks;
        }

        /// <summary>The mask of the context's epoch, from the mask before it: one step of <see cref="Plan"/>.</summary>
        public override ThawDecision Decide(ThawContext context)
        {
            if (context == null) throw new ArgumentNullException(nameof(context));
            return new ThawDecision(Step(context.Epoch, context.CurrentMask, context.ParameterNames, context.Log));
        }

        /// <summary>The schedule's <see cref="Plan"/> (null for <see cref="Auto"/>).</summary>
        public override IReadOnlyList<FreezeMask> PlannedMasks(
            FreezeMask initial, IReadOnlyList<string> parameterNames, int epochs, Action<string> log)
            => IsPlanned ? Plan(initial, parameterNames, epochs, log) : null;

        /// <summary>Whether every epoch's mask is known before training.</summary>
        private protected virtual bool IsPlanned => true;

        /// <summary>The epochs at which this schedule acts (checked against the run's length).</summary>
        private protected abstract IEnumerable<int> FixedEpochs { get; }

        private protected abstract FreezeMask Step(int epoch, FreezeMask current, IReadOnlyList<string> names,
            Action<string> log);

        /// <summary>Throws when a schedule epoch is at or past the end of a run of <paramref name="epochs"/>
        /// epochs.</summary>
        public void Validate(int epochs)
        {
            var late = FixedEpochs.Where(e => e >= epochs).ToList();
            if (late.Count > 0)
                throw new ArgumentOutOfRangeException(nameof(epochs),
                    $"Unfreezing schedule {this} acts at epoch {string.Join(", ", late)}, but the run has {epochs} " +
                    $"epoch{(epochs == 1 ? "" : "s")} (0..{epochs - 1}).");
        }

        private sealed class NoUnfreezing : UnfreezeSchedule
        {
            private protected override IEnumerable<int> FixedEpochs => Enumerable.Empty<int>();
            private protected override FreezeMask Step(int epoch, FreezeMask current, IReadOnlyList<string> names,
                Action<string> log) => current;
            public override string ToString() => "none";
        }

        private sealed class GradualUnfreezing : UnfreezeSchedule
        {
            private readonly int _start;
            private readonly int _every;

            public GradualUnfreezing(int start, int every)
            {
                _start = start;
                _every = every;
            }

            private protected override IEnumerable<int> FixedEpochs => new[] { _start };

            private protected override FreezeMask Step(int epoch, FreezeMask current, IReadOnlyList<string> names,
                Action<string> log)
            {
                if (epoch < _start || (epoch - _start) % _every != 0)
                    return current;
                var frozen = current.FrozenStages(names);
                if (frozen.Count == 0)
                {
                    log?.Invoke($"Epoch {epoch}: gradual unfreezing has nothing left to thaw.");
                    return current;
                }
                var top = frozen.Max();
                log?.Invoke($"Epoch {epoch}: thawing {top.Name()}.");
                return current.Except(FreezeMask.Stages(top));
            }

            public override string ToString() => $"gradual({_start},{_every})";
        }

        private sealed class CustomUnfreezing : UnfreezeSchedule
        {
            private readonly Dictionary<int, FreezeMask> _masks;
            private readonly string _text;

            public CustomUnfreezing(Dictionary<int, FreezeMask> masks, string text)
            {
                _masks = masks;
                _text = text;
            }

            private protected override IEnumerable<int> FixedEpochs => _masks.Keys;

            private protected override FreezeMask Step(int epoch, FreezeMask current, IReadOnlyList<string> names,
                Action<string> log)
            {
                if (!_masks.TryGetValue(epoch, out var next))
                    return current;
                if (!names.Any(current.IsFrozen) && !names.Any(next.IsFrozen))
                    log?.Invoke($"Epoch {epoch}: unfreezing schedule {this} has nothing left to thaw.");
                else
                    log?.Invoke($"Epoch {epoch}: freeze mask becomes '{next}'.");
                return next;
            }

            public override string ToString() => _text;
        }
    }
}

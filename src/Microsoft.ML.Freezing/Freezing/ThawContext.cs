// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;

namespace Microsoft.ML.Freezing
{
    /// <summary>What a <see cref="ThawPolicy"/> sees at an epoch boundary.</summary>
    public sealed class ThawContext
    {
        private readonly Action<string> _log;

        /// <summary>Describes the boundary before <paramref name="epoch"/>.</summary>
        public ThawContext(int epoch, int totalEpochs, FreezeMask currentMask, IReadOnlyList<EpochRecord> history,
            IReadOnlyList<string> parameterNames, Action<string> log = null)
        {
            if (epoch < 0 || epoch >= totalEpochs)
                throw new ArgumentOutOfRangeException(nameof(epoch),
                    $"Epoch {epoch} is outside the run (0..{totalEpochs - 1}).");
            Epoch = epoch;
            TotalEpochs = totalEpochs;
            CurrentMask = currentMask ?? throw new ArgumentNullException(nameof(currentMask));
            History = history ?? throw new ArgumentNullException(nameof(history));
            ParameterNames = parameterNames ?? throw new ArgumentNullException(nameof(parameterNames));
            _log = log;
        }

        /// <summary>The epoch about to start, from 0.</summary>
        public int Epoch { get; }
        /// <summary>Epochs in the run.</summary>
        public int TotalEpochs { get; }
        /// <summary>The mask of the epoch before (at epoch 0: the run's initial mask).</summary>
        public FreezeMask CurrentMask { get; }
        /// <summary>The records of the finished epochs, oldest first (a copy: it does not grow).</summary>
        public IReadOnlyList<EpochRecord> History { get; }
        /// <summary>The record of the epoch before, with its validation metrics; null at epoch 0.</summary>
        public EpochRecord Previous => History.Count == 0 ? null : History[History.Count - 1];
        /// <summary>The network's parameter names (<see cref="ResNetStages.OfParameter"/>: their stage).</summary>
        public IReadOnlyList<string> ParameterNames { get; }
        /// <summary>Stages with at least one parameter frozen by <see cref="CurrentMask"/>.</summary>
        public IReadOnlyList<ResNetStage> FrozenStages => CurrentMask.FrozenStages(ParameterNames);

        /// <summary>Writes a line to the run's log.</summary>
        public void Log(string message) => _log?.Invoke(message);
    }
}

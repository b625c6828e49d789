// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Outputs of frozen stages, per training example, so that later epochs start training from the freeze boundary
    /// instead of running the frozen prefix again. Valid only while everything below a stored output is frozen with
    /// BatchNorm in eval mode and the images do not change between epochs (no augmentation); the fine-tuner checks
    /// that before every epoch. Stores are kept in memory up to a cap, then spill to memory-mapped temporary files; a
    /// stage output that fits neither is not stored (it is recomputed).
    /// </summary>
    internal sealed class ActivationCache : IDisposable
    {
        private readonly Dictionary<ResNetStage, ActivationStore> _stores =
            new Dictionary<ResNetStage, ActivationStore>();
        private readonly HashSet<ResNetStage> _noRoom = new HashSet<ResNetStage>();
        private readonly int _count;
        private readonly long _memoryLimit;
        private readonly string _spillFolder;
        private readonly Action<string> _log;
        private readonly long[] _labels;
        private readonly bool[] _labelled;
        private readonly string _name;
        private readonly Func<long> _sharedBytes;

        /// <param name="count">Examples in the source.</param>
        /// <param name="memoryLimit">Bytes in memory, this cache and <paramref name="sharedBytes"/> together.</param>
        /// <param name="spillFolder">Where stores that do not fit in memory go.</param>
        /// <param name="log">Receives one-line notes, each starting with <paramref name="name"/>.</param>
        /// <param name="name">How the log names this cache.</param>
        /// <param name="sharedBytes">Bytes another cache holds in memory under the same cap (null: none).</param>
        public ActivationCache(int count, long memoryLimit, string spillFolder, Action<string> log,
            string name = "Activation cache", Func<long> sharedBytes = null)
        {
            _name = name;
            _sharedBytes = sharedBytes;
            _count = count;
            _memoryLimit = memoryLimit;
            _spillFolder = spillFolder;
            _log = log;
            _labels = new long[count];
            _labelled = new bool[count];
        }

        /// <summary>Bytes of activations held in memory now.</summary>
        public long MemoryBytes => _stores.Values.Sum(s => s.MemoryBytes);

        /// <summary>Stage outputs stored now (complete or being filled).</summary>
        public IReadOnlyCollection<ResNetStage> Stored => _stores.Keys;

        public bool IsComplete(ResNetStage output)
            => _stores.TryGetValue(output, out var s) && s.IsComplete && _labelled.All(l => l);

        /// <summary>Drops the stores of stage outputs no longer needed.</summary>
        public void Retain(ISet<ResNetStage> needed)
        {
            foreach (var stage in _stores.Keys.Where(s => !needed.Contains(s)).ToList())
            {
                _stores[stage].Dispose();
                _stores.Remove(stage);
                _log?.Invoke($"{_name}: dropped {stage.Name()} outputs (no longer needed).");
            }
        }

        /// <summary>
        /// Stores the output of <paramref name="stage"/> for a batch, creating its store on first use when the cap
        /// allows (memory first, else a memory-mapped file). Returns false when there is no room for it.
        /// </summary>
        public bool Put(ResNetStage stage, IReadOnlyList<int> indices, Tensor activations, Tensor labels)
        {
            if (_noRoom.Contains(stage))
                return false;
            if (!_stores.TryGetValue(stage, out var store))
            {
                store = Create(stage, activations.shape.Skip(1).ToArray());
                if (store == null)
                    return false;
                _stores[stage] = store;
            }
            store.Put(indices, activations);
            if (labels is not null)
            {
                using var cpu = labels.cpu();
                var values = cpu.data<long>().ToArray();
                for (int i = 0; i < indices.Count; i++)
                {
                    _labels[indices[i]] = values[i];
                    _labelled[indices[i]] = true;
                }
            }
            return true;
        }

        public Tensor Get(ResNetStage stage, IReadOnlyList<int> indices) => _stores[stage].Get(indices);

        public Tensor Labels(IReadOnlyList<int> indices) => tensor(indices.Select(i => _labels[i]).ToArray());

        private ActivationStore Create(ResNetStage stage, long[] exampleShape)
        {
            long bytes = _count * exampleShape.Aggregate(1L, (a, b) => a * b) * sizeof(float);
            if (MemoryBytes + (_sharedBytes?.Invoke() ?? 0) + bytes <= _memoryLimit)
            {
                _log?.Invoke($"{_name}: {stage.Name()} outputs in memory ({bytes / 1e6:F0} MB).");
                return new MemoryActivationStore(_count, exampleShape);
            }
            try
            {
                var drive = new DriveInfo(Path.GetFullPath(_spillFolder));
                if (drive.AvailableFreeSpace > bytes * 2)
                {
                    _log?.Invoke($"{_name}: {stage.Name()} outputs ({bytes / 1e6:F0} MB) exceed the memory cap; " +
                        $"spilling to a memory-mapped file in {_spillFolder}.");
                    return new MappedActivationStore(_count, exampleShape, _spillFolder);
                }
            }
            catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException
                || ex is ArgumentException)
            {
                _log?.Invoke($"{_name}: cannot spill to {_spillFolder} ({ex.Message}).");
            }
            _noRoom.Add(stage);
            _log?.Invoke($"{_name}: no room for {stage.Name()} outputs ({bytes / 1e6:F0} MB); " +
                "they are recomputed every epoch.");
            return null;
        }

        public void Dispose()
        {
            foreach (var store in _stores.Values)
                store.Dispose();
            _stores.Clear();
        }
    }
}

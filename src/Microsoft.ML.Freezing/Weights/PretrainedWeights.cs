// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;
using System.Linq;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Pretrained weights: the network they fit (<see cref="Definition"/>, which the weights define), the preprocessing
    /// the network was trained with, and a way to load them into a <see cref="ResNet"/>. The importers of the weights
    /// work (ONNX, TF.js, PyTorch) produce instances; the TorchSharp-format factory here reads what
    /// <c>module.save</c> wrote.
    /// </summary>
    public sealed partial class PretrainedWeights
    {
        private readonly Action<ResNet> _load;
        private ResNetArchitecture? _family;

        /// <summary>
        /// No weights: training starts from random initialisation (of the trainer's <c>Architecture</c>). Has no
        /// <see cref="Definition"/>; <see cref="Preprocessing"/> is torchvision's
        /// <see cref="ImagePreprocessing.ImageNet"/>.
        /// </summary>
        public static PretrainedWeights None { get; } =
            new PretrainedWeights("random initialisation (PretrainedWeights.None)");

        private PretrainedWeights(string description)
        {
            Description = description;
            Preprocessing = ImagePreprocessing.ImageNet();
        }

        private PretrainedWeights(string description, ResNetDefinition definition, ImagePreprocessing preprocessing,
            Action<ResNet> load)
        {
            Description = description;
            Definition = definition ?? throw new ArgumentNullException(nameof(definition));
            Preprocessing = preprocessing ?? throw new ArgumentNullException(nameof(preprocessing));
            _load = load;
        }

        /// <summary>For importers: weights that <paramref name="load"/> copies into a network of
        /// <paramref name="definition"/>.</summary>
        internal static PretrainedWeights Create(string description, ResNetDefinition definition,
            ImagePreprocessing preprocessing, Action<ResNet> load)
            => new PretrainedWeights(description, definition, preprocessing, load);

        /// <summary>A copy that belongs to <paramref name="family"/> even when its depths differ from the
        /// preset's.</summary>
        internal PretrainedWeights WithFamily(ResNetArchitecture family)
            => new PretrainedWeights(Description, Definition, Preprocessing, _load) { _family = family };

        /// <summary>A weights file written by this library (the weight cache's format), which records its network and
        /// preprocessing.</summary>
        public static PretrainedWeights FromFile(string path)
        {
            if (!File.Exists(path))
                throw new FileNotFoundException($"Pretrained weights file '{path}' does not exist.", path);
            return WeightsFile.Read(path, $"weights file '{Path.GetFileName(path)}'");
        }

        /// <summary>Where the weights come from, for logs.</summary>
        public string Description { get; }
        /// <summary>
        /// The network the weights fit, with their own head (class count) when they have one; null for
        /// <see cref="None"/>.
        /// </summary>
        public ResNetDefinition Definition { get; }
        /// <summary>The preprocessing the weights expect.</summary>
        public ImagePreprocessing Preprocessing { get; }
        /// <summary>The preset family the weights belong to: as their importer names it, else the preset with the same
        /// block type and depths.</summary>
        public ResNetArchitecture? Architecture => IsNone ? null : _family ?? Enum.GetValues<ResNetArchitecture>()
            .Cast<ResNetArchitecture?>()
            .FirstOrDefault(
            a => ResNetDefinition.For(a.Value, 0) is var preset && preset.BlockType == Definition.BlockType
            && preset.Depths.SequenceEqual(Definition.Depths));

        /// <summary>
        /// The head's learning rate that training from these weights starts well with (SGD, momentum 0.9):
        /// <see cref="TrainingDefaults.PretrainedLearningRate"/> (0.001) for pretrained weights,
        /// <see cref="TrainingDefaults.RandomInitLearningRate"/> (0.003) for <see cref="None"/>. The trainer uses it
        /// when its LearningRate is null.
        /// </summary>
        public double RecommendedLearningRate
            => IsNone ? TrainingDefaults.RandomInitLearningRate : TrainingDefaults.PretrainedLearningRate;

        /// <summary>True for <see cref="None"/>.</summary>
        internal bool IsNone => ReferenceEquals(this, None);

        /// <summary>
        /// Weights in TorchSharp's format (<c>module.save</c>) for a network of <paramref name="definition"/>.
        /// </summary>
        public static PretrainedWeights FromTorchSharpFile(string path, ResNetDefinition definition,
            ImagePreprocessing preprocessing)
        {
            if (!File.Exists(path))
                throw new FileNotFoundException($"Pretrained weights file '{path}' does not exist.", path);
            return new PretrainedWeights($"TorchSharp weights '{Path.GetFileName(path)}'", definition, preprocessing,
                model =>
            {
                try
                {
                    model.load(path, strict: true);
                }
                catch (Exception ex) when (ex is ArgumentException || ex is InvalidDataException
                    || ex is EndOfStreamException || ex is IOException)
                {
                    throw new InvalidDataException(
                        $"Pretrained weights file '{path}' does not fit {definition}: {ex.Message}", ex);
                }
            });
        }

        /// <summary>
        /// Builds the network for <paramref name="numClasses"/> classes with these weights. The backbone comes from the
        /// weights; the head is replaced (freshly initialised from <paramref name="seed"/>) unless the class count
        /// equals the weights' own head and <paramref name="keepHead"/> is set.
        /// </summary>
        /// <exception cref="InvalidOperationException">These are <see cref="None"/>: no network.</exception>
        public ResNet CreateNetwork(int numClasses, long seed, bool keepHead = false)
        {
            if (IsNone)
                throw new InvalidOperationException(
                    "PretrainedWeights.None define no network: build one with new ResNet(ResNetDefinition.For(...)).");
            var full = new ResNet(Definition, seed);
            if (keepHead && Definition.NumClasses == numClasses)
            {
                _load(full);
                return full;
            }
            try
            {
                _load(full);
                var target = new ResNet(Definition.WithClasses(numClasses), seed);
                // Everything but the head, which keeps its fresh initialisation for the new classes.
                var heads = target.state_dict().Keys.Where(n => n.StartsWith("fc.", StringComparison.Ordinal)).ToList();
                var (missing, _) = target.load_state_dict(full.state_dict(), strict: false, skip: heads);
                if (missing.Except(heads).Any())
                    throw new InvalidOperationException(
                        $"The weights lack {string.Join(", ", missing.Except(heads))}.");
                return target;
            }
            finally
            {
                full.Dispose();
            }
        }

        /// <inheritdoc/>
        public override string ToString() => IsNone ? Description : $"{Description} ({Definition})";
    }
}

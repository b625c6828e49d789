// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// The six stages a ResNet is split into for freezing, learning rates and stage-by-stage forward passes.
    /// Ordered from the input (<see cref="Stem"/>) to the output (<see cref="Head"/>).
    /// </summary>
    public enum ResNetStage
    {
        /// <summary><c>conv1</c>, <c>bn1</c>, ReLU and max pooling.</summary>
        Stem = 0,
        /// <summary><c>layer1.*</c>.</summary>
        Layer1 = 1,
        /// <summary><c>layer2.*</c>.</summary>
        Layer2 = 2,
        /// <summary><c>layer3.*</c>.</summary>
        Layer3 = 3,
        /// <summary><c>layer4.*</c>.</summary>
        Layer4 = 4,
        /// <summary>Global average pooling and <c>fc</c>.</summary>
        Head = 5,
    }

    /// <summary>Helpers over <see cref="ResNetStage"/>.</summary>
    public static class ResNetStages
    {
        /// <summary>All stages, input first.</summary>
        public static readonly ResNetStage[] All =
            { ResNetStage.Stem, ResNetStage.Layer1, ResNetStage.Layer2, ResNetStage.Layer3, ResNetStage.Layer4,
                ResNetStage.Head };

        /// <summary>The lower-case name used in masks and logs: stem, layer1..layer4, head.</summary>
        public static string Name(this ResNetStage stage) => stage.ToString().ToLowerInvariant();

        /// <summary>Distance from the head: Head = 0 ... Stem = 5 (the exponent of the layer-wise rate
        /// decay).</summary>
        public static int DepthFromHead(this ResNetStage stage) => ResNetStage.Head - stage;

        /// <summary>Parses a stage name (case-insensitive); returns false for anything else.</summary>
        public static bool TryParse(string name, out ResNetStage stage)
        {
            foreach (var s in All)
            {
                if (string.Equals(s.Name(), name, System.StringComparison.OrdinalIgnoreCase))
                {
                    stage = s;
                    return true;
                }
            }
            stage = default;
            return false;
        }

        /// <summary>
        /// The stage that owns a torchvision-style parameter or buffer name
        /// (<c>conv1.*</c>/<c>bn1.*</c> → Stem, <c>layerN.*</c> → LayerN, <c>fc.*</c> → Head).
        /// </summary>
        public static ResNetStage OfParameter(string name)
        {
            if (name.StartsWith("conv1.", System.StringComparison.Ordinal)
                || name.StartsWith("bn1.", System.StringComparison.Ordinal))
                return ResNetStage.Stem;
            for (int i = 1; i <= 4; i++)
            {
                if (name.StartsWith("layer" + i + ".", System.StringComparison.Ordinal))
                    return (ResNetStage)i;
            }
            if (name.StartsWith("fc.", System.StringComparison.Ordinal))
                return ResNetStage.Head;
            throw new System.ArgumentException(
                $"'{name}' is not a ResNet parameter name (expected conv1.*, bn1.*, layer1-4.* or fc.*).",
                nameof(name));
        }
    }
}

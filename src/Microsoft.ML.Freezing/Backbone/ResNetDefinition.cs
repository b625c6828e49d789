// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;
using System.Linq;

namespace Microsoft.ML.Freezing
{
    /// <summary>Residual block type of a ResNet.</summary>
    public enum ResNetBlockType
    {
        /// <summary>Two 3x3 convolutions (ResNet-18/34).</summary>
        Basic,
        /// <summary>1x1, 3x3, 1x1 convolutions with 4x expansion (ResNet-50/101/152).</summary>
        Bottleneck,
    }

    /// <summary>Where a downsampling Bottleneck block puts its stride.</summary>
    public enum ResNetVariant
    {
        /// <summary>torchvision's "v1.5": stride 2 on the 3x3 convolution.</summary>
        V1_5,
        /// <summary>The original "v1" (Keras weights): stride 2 on the first 1x1 convolution.</summary>
        V1,
    }

    /// <summary>
    /// Everything that shapes a ResNet: block type, stage depths, stride variant, BatchNorm epsilon, conv bias and
    /// class count. Two networks with equal definitions have identical parameter names and shapes; a saved model
    /// records this.
    /// </summary>
    public sealed class ResNetDefinition : IEquatable<ResNetDefinition>
    {
        /// <summary>Creates a definition; <paramref name="depths"/> gives the number of blocks of
        /// layer1..layer4.</summary>
        /// <param name="blockType">Basic or Bottleneck blocks.</param>
        /// <param name="depths">Four positive block counts.</param>
        /// <param name="numClasses">Outputs of <c>fc</c>; 0 builds no <c>fc</c> (the head then returns pooled
        /// features).</param>
        /// <param name="variant">Where a downsampling Bottleneck strides (ignored for Basic blocks).</param>
        /// <param name="batchNormEpsilon">BatchNorm epsilon (torchvision 1e-5, Keras 1e-3).</param>
        /// <param name="convBias">Whether convolutions have a bias (Keras weights do).</param>
        public ResNetDefinition(ResNetBlockType blockType, int[] depths, int numClasses,
            ResNetVariant variant = ResNetVariant.V1_5, double batchNormEpsilon = 1e-5, bool convBias = false)
        {
            if (depths == null || depths.Length != 4 || depths.Any(d => d < 1))
                throw new ArgumentException("A ResNet needs four stage depths, each at least 1.", nameof(depths));
            if (numClasses < 0)
                throw new ArgumentOutOfRangeException(nameof(numClasses), "The class count cannot be negative.");
            if (!(batchNormEpsilon > 0))
                throw new ArgumentOutOfRangeException(nameof(batchNormEpsilon), "BatchNorm epsilon must be positive.");
            BlockType = blockType;
            Depths = (int[])depths.Clone();
            NumClasses = numClasses;
            Variant = variant;
            BatchNormEpsilon = batchNormEpsilon;
            ConvBias = convBias;
        }

        /// <summary>Basic or Bottleneck.</summary>
        public ResNetBlockType BlockType { get; }
        /// <summary>Blocks in layer1..layer4 (a copy).</summary>
        public int[] Depths { get; }
        /// <summary>Outputs of <c>fc</c>; 0 when the network has no <c>fc</c>.</summary>
        public int NumClasses { get; }
        /// <summary>Where a downsampling Bottleneck strides.</summary>
        public ResNetVariant Variant { get; }
        /// <summary>BatchNorm epsilon.</summary>
        public double BatchNormEpsilon { get; }
        /// <summary>Whether convolutions carry a bias.</summary>
        public bool ConvBias { get; }

        /// <summary>Channel expansion of the block type (1 for Basic, 4 for Bottleneck).</summary>
        public int Expansion => BlockType == ResNetBlockType.Basic ? 1 : 4;
        /// <summary>Width of the pooled feature vector the head sees (512 or 2048).</summary>
        public int FeatureDimension => 512 * Expansion;

        /// <summary>A copy with another class count (replacing the head).</summary>
        public ResNetDefinition WithClasses(int numClasses)
            => new ResNetDefinition(BlockType, Depths, numClasses, Variant, BatchNormEpsilon, ConvBias);

        /// <summary>torchvision resnet18: Basic [2,2,2,2].</summary>
        public static ResNetDefinition ResNet18(int numClasses)
            => new ResNetDefinition(ResNetBlockType.Basic, new[] { 2, 2, 2, 2 }, numClasses);
        /// <summary>torchvision resnet34: Basic [3,4,6,3].</summary>
        public static ResNetDefinition ResNet34(int numClasses)
            => new ResNetDefinition(ResNetBlockType.Basic, new[] { 3, 4, 6, 3 }, numClasses);
        /// <summary>torchvision resnet50: Bottleneck [3,4,6,3].</summary>
        public static ResNetDefinition ResNet50(int numClasses)
            => new ResNetDefinition(ResNetBlockType.Bottleneck, new[] { 3, 4, 6, 3 }, numClasses);
        /// <summary>torchvision resnet101: Bottleneck [3,4,23,3].</summary>
        public static ResNetDefinition ResNet101(int numClasses)
            => new ResNetDefinition(ResNetBlockType.Bottleneck, new[] { 3, 4, 23, 3 }, numClasses);
        /// <summary>torchvision resnet152: Bottleneck [3,8,36,3].</summary>
        public static ResNetDefinition ResNet152(int numClasses)
            => new ResNetDefinition(ResNetBlockType.Bottleneck, new[] { 3, 8, 36, 3 }, numClasses);

        /// <summary>The preset for an architecture.</summary>
        public static ResNetDefinition For(ResNetArchitecture architecture, int numClasses) => architecture switch
        {
            ResNetArchitecture.ResNet18 => ResNet18(numClasses),
            ResNetArchitecture.ResNet34 => ResNet34(numClasses),
            ResNetArchitecture.ResNet50 => ResNet50(numClasses),
            ResNetArchitecture.ResNet101 => ResNet101(numClasses),
            ResNetArchitecture.ResNet152 => ResNet152(numClasses),
            _ => throw new ArgumentOutOfRangeException(nameof(architecture), architecture,
                "Unknown ResNet architecture."),
        };

        /// <summary>
        /// Writes the definition. Binary format (mirrored in <see cref="Load"/>): int block type; 4 ints stage depths;
        /// int variant; double BatchNorm epsilon; bool conv bias; int class count.
        /// </summary>
        public void Save(BinaryWriter writer)
        {
            writer.Write((int)BlockType);
            foreach (int depth in Depths)
                writer.Write(depth);
            writer.Write((int)Variant);
            writer.Write(BatchNormEpsilon);
            writer.Write(ConvBias);
            writer.Write(NumClasses);
        }

        /// <summary>Reads what <see cref="Save"/> wrote; throws <see cref="InvalidDataException"/> on anything
        /// else.</summary>
        public static ResNetDefinition Load(BinaryReader reader)
        {
            try
            {
                var blockType = (ResNetBlockType)reader.ReadInt32();
                var depths = new[] { reader.ReadInt32(), reader.ReadInt32(), reader.ReadInt32(), reader.ReadInt32() };
                var variant = (ResNetVariant)reader.ReadInt32();
                double eps = reader.ReadDouble();
                bool bias = reader.ReadBoolean();
                int classes = reader.ReadInt32();
                if (!Enum.IsDefined(blockType) || !Enum.IsDefined(variant) || depths.Any(d => d < 1 || d > 1000)
                    || classes < 0 || classes > 1_000_000)
                    throw new InvalidDataException(
                        $"Invalid ResNet definition ({blockType}, [{string.Join(",", depths)}], {variant}, {classes} " +
                        "classes).");
                return new ResNetDefinition(blockType, depths, classes, variant, eps, bias);
            }
            catch (EndOfStreamException ex)
            {
                throw new InvalidDataException("The ResNet definition is truncated.", ex);
            }
            catch (ArgumentException ex)
            {
                throw new InvalidDataException("Invalid ResNet definition: " + ex.Message, ex);
            }
        }

        /// <inheritdoc/>
        public bool Equals(ResNetDefinition other)
            => other != null && BlockType == other.BlockType && Depths.SequenceEqual(other.Depths)
                && NumClasses == other.NumClasses
               && Variant == other.Variant && BatchNormEpsilon == other.BatchNormEpsilon && ConvBias == other.ConvBias;

        /// <inheritdoc/>
        public override bool Equals(object obj) => Equals(obj as ResNetDefinition);

        /// <inheritdoc/>
        public override int GetHashCode()
            => HashCode.Combine(BlockType, string.Join(",", Depths), NumClasses, Variant, BatchNormEpsilon, ConvBias);

        /// <inheritdoc/>
        public override string ToString()
            => $"{BlockType} [{string.Join(",", Depths)}] {Variant} eps={BatchNormEpsilon:g} bias={ConvBias} " +
                $"classes={NumClasses}";
    }

    /// <summary>The ResNet presets.</summary>
    public enum ResNetArchitecture
    {
        /// <summary>Basic blocks [2,2,2,2], 11.7 M parameters.</summary>
        ResNet18,
        /// <summary>Basic blocks [3,4,6,3].</summary>
        ResNet34,
        /// <summary>Bottleneck blocks [3,4,6,3].</summary>
        ResNet50,
        /// <summary>Bottleneck blocks [3,4,23,3].</summary>
        ResNet101,
        /// <summary>Bottleneck blocks [3,8,36,3].</summary>
        ResNet152,
    }
}

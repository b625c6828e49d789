// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// torchvision's BasicBlock: conv3x3 → BN → ReLU → conv3x3 → BN, plus the (projected) shortcut, then ReLU.
    /// Field names are the state-dict keys (<c>conv1</c>, <c>bn1</c>, <c>conv2</c>, <c>bn2</c>, <c>downsample.0/1</c>).
    /// </summary>
    public sealed class BasicBlock : nn.Module<Tensor, Tensor>
    {
        private readonly Conv2d conv1;
        private readonly ScalarSafeBatchNorm2d bn1;
        private readonly Conv2d conv2;
        private readonly ScalarSafeBatchNorm2d bn2;
        private readonly Sequential downsample;

        /// <summary>Creates a block mapping <paramref name="inChannels"/> to <paramref name="channels"/>.</summary>
        public BasicBlock(string name, long inChannels, long channels, long stride, ResNetDefinition definition)
            : base(name)
        {
            bool bias = definition.ConvBias;
            double eps = definition.BatchNormEpsilon;
            conv1 = nn.Conv2d(inChannels, channels, 3, stride: stride, padding: 1, bias: bias);
            bn1 = new ScalarSafeBatchNorm2d(channels, eps);
            conv2 = nn.Conv2d(channels, channels, 3, stride: 1, padding: 1, bias: bias);
            bn2 = new ScalarSafeBatchNorm2d(channels, eps);
            if (stride != 1 || inChannels != channels)
                downsample = Shortcut.Create(inChannels, channels, stride, definition);
            RegisterComponents();
        }

        /// <inheritdoc/>
        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            var y = nn.functional.relu(bn1.call(conv1.call(x)));
            y = bn2.call(conv2.call(y));
            var identity = downsample is null ? x : Shortcut.Call(downsample, x);
            return nn.functional.relu(y.AddInPlace(identity)).MoveToOuterDisposeScope();
        }

    }

    /// <summary>The 1x1 projection + BatchNorm shortcut (<c>downsample.0</c>, <c>downsample.1</c>).</summary>
    internal static class Shortcut
    {
        public static Sequential Create(long inChannels, long outChannels, long stride, ResNetDefinition definition)
            => nn.Sequential(
                ("0", nn.Conv2d(inChannels, outChannels, 1, stride: stride, bias: definition.ConvBias)),
                ("1", new ScalarSafeBatchNorm2d(outChannels, definition.BatchNormEpsilon)));

        /// <summary>The shortcut's forward, its 1x1 convolution as a matrix product (see
        /// <see cref="PointwiseConvolution"/>).</summary>
        public static Tensor Call(Sequential shortcut, Tensor x)
        {
            using var scope = NewDisposeScope();
            var conv = (Conv2d)shortcut[0];
            var bn = (nn.Module<Tensor, Tensor>)shortcut[1];
            return bn.call(PointwiseConvolution.Call(conv, x)).MoveToOuterDisposeScope();
        }
    }
}

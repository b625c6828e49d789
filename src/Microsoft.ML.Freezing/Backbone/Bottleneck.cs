// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// torchvision's Bottleneck: 1x1 → 3x3 → 1x1 (4x expansion) with BN after each conv, plus the shortcut.
    /// A downsampling block strides on the 3x3 conv (v1.5) or on the first 1x1 conv (v1), per
    /// <see cref="ResNetVariant"/>.
    /// </summary>
    public sealed class Bottleneck : nn.Module<Tensor, Tensor>
    {
        private readonly Conv2d conv1;
        private readonly ScalarSafeBatchNorm2d bn1;
        private readonly Conv2d conv2;
        private readonly ScalarSafeBatchNorm2d bn2;
        private readonly Conv2d conv3;
        private readonly ScalarSafeBatchNorm2d bn3;
        private readonly Sequential downsample;

        /// <summary>Creates a block; <paramref name="width"/> is the inner width, the output has 4x that.</summary>
        public Bottleneck(string name, long inChannels, long width, long stride, ResNetDefinition definition)
            : base(name)
        {
            bool bias = definition.ConvBias;
            double eps = definition.BatchNormEpsilon;
            long outChannels = width * 4;
            long stride1x1 = definition.Variant == ResNetVariant.V1 ? stride : 1;
            long stride3x3 = definition.Variant == ResNetVariant.V1 ? 1 : stride;
            conv1 = nn.Conv2d(inChannels, width, 1, stride: stride1x1, bias: bias);
            bn1 = new ScalarSafeBatchNorm2d(width, eps);
            conv2 = nn.Conv2d(width, width, 3, stride: stride3x3, padding: 1, bias: bias);
            bn2 = new ScalarSafeBatchNorm2d(width, eps);
            conv3 = nn.Conv2d(width, outChannels, 1, bias: bias);
            bn3 = new ScalarSafeBatchNorm2d(outChannels, eps);
            if (stride != 1 || inChannels != outChannels)
                downsample = Shortcut.Create(inChannels, outChannels, stride, definition);
            RegisterComponents();
        }

        /// <inheritdoc/>
        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            var y = nn.functional.relu(bn1.call(PointwiseConvolution.Call(conv1, x)));
            y = nn.functional.relu(bn2.call(conv2.call(y)));
            y = bn3.call(PointwiseConvolution.Call(conv3, y));
            var identity = downsample is null ? x : Shortcut.Call(downsample, x);
            return nn.functional.relu(y.AddInPlace(identity)).MoveToOuterDisposeScope();
        }

    }
}

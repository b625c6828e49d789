// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// A ResNet with torchvision's parameter names (<c>conv1</c>, <c>bn1</c>, <c>layer1.0.conv1</c>, ...,
    /// <c>layer2.0.downsample.0</c>, <c>fc</c>), so PyTorch state dicts map 1:1. The forward pass runs stage by stage;
    /// <see cref="Forward(Tensor, ResNetStage, ResNetStage)"/> runs any contiguous range, so a caller can run a frozen
    /// prefix under <c>no_grad</c> and resume from a stage's output.
    /// </summary>
    public sealed class ResNet : nn.Module<Tensor, Tensor>
    {
        // Field names are the state-dict keys; declaration order is registration order.
        private readonly Conv2d conv1;
        private readonly ScalarSafeBatchNorm2d bn1;
        private readonly MaxPool2d maxpool;
        private readonly Sequential layer1;
        private readonly Sequential layer2;
        private readonly Sequential layer3;
        private readonly Sequential layer4;
        private readonly AdaptiveAvgPool2d avgpool;
        private readonly Linear fc;

        /// <summary>Builds the network of <paramref name="definition"/> with torchvision's initialisation.</summary>
        /// <param name="definition">The shape of the network.</param>
        /// <param name="seed">Seed of the initialisation; null draws from TorchSharp's global generator.</param>
        public ResNet(ResNetDefinition definition, long? seed = null) : this(definition, seed, initialize: true)
        {
        }

        /// <summary>
        /// A network whose weights are about to be overwritten (a saved model's): <paramref name="initialize"/> false
        /// skips torchvision's initialisation (libtorch's defaults stay), which costs a cold start about as much as
        /// loading the weights.
        /// </summary>
        internal ResNet(ResNetDefinition definition, long? seed, bool initialize) : base(nameof(ResNet))
        {
            Definition = definition ?? throw new ArgumentNullException(nameof(definition));
            LibTorchSettings.EnsureApplied();
            conv1 = nn.Conv2d(3, 64, 7, stride: 2, padding: 3, bias: definition.ConvBias);
            bn1 = new ScalarSafeBatchNorm2d(64, definition.BatchNormEpsilon);
            maxpool = nn.MaxPool2d(MaxPoolKernel, stride: MaxPoolStride, padding: MaxPoolPadding);
            long inChannels = 64;
            layer1 = MakeLayer(ref inChannels, 64, definition.Depths[0], 1, definition);
            layer2 = MakeLayer(ref inChannels, 128, definition.Depths[1], 2, definition);
            layer3 = MakeLayer(ref inChannels, 256, definition.Depths[2], 2, definition);
            layer4 = MakeLayer(ref inChannels, 512, definition.Depths[3], 2, definition);
            avgpool = nn.AdaptiveAvgPool2d(1);
            if (definition.NumClasses > 0)
                fc = nn.Linear(inChannels, definition.NumClasses);
            RegisterComponents();

            if (!initialize)
                return;
            using var generator = seed.HasValue ? new Generator((ulong)seed.Value) : null;
            Initialize(generator);
        }

        // The stem's max pooling (torchvision's), shared with FoldedResNet.
        internal const long MaxPoolKernel = 3;
        internal const long MaxPoolStride = 2;
        internal const long MaxPoolPadding = 1;

        /// <summary>The definition this network was built from.</summary>
        public ResNetDefinition Definition { get; }

        /// <summary>
        /// An inference snapshot of stages <paramref name="from"/>..<paramref name="to"/> with every BatchNorm folded
        /// into its convolution and channels-last weights: the fast way to run frozen or eval-mode stages on the CPU
        /// (see <see cref="FoldedResNet"/>). Every BatchNorm in the range must be in eval mode. Later changes to this
        /// network do not reach the snapshot; dispose it and fold again.
        /// </summary>
        /// <exception cref="InvalidOperationException">A BatchNorm in the range is in training mode.</exception>
        public FoldedResNet Fold(ResNetStage from = ResNetStage.Stem, ResNetStage to = ResNetStage.Head,
            InferencePrecision precision = InferencePrecision.Float32)
            => FoldedResNet.Create(this, from, to, precision, log: null);

        /// <summary>
        /// <see cref="Fold(ResNetStage, ResNetStage, InferencePrecision)"/> whose convolution-route fallbacks go to
        /// <paramref name="log"/> (else to <see cref="FoldedResNet.KernelFallback"/>).
        /// </summary>
        internal FoldedResNet Fold(ResNetStage from, ResNetStage to, InferencePrecision precision, Action<string> log)
            => FoldedResNet.Create(this, from, to, precision, log);

        /// <summary>Runs the whole network: logits of shape [N, classes] (or pooled features when there is no
        /// fc).</summary>
        public override Tensor forward(Tensor x) => Forward(x, ResNetStage.Stem, ResNetStage.Head);

        /// <summary>
        /// Runs stages <paramref name="from"/>..<paramref name="to"/> (inclusive); <paramref name="x"/> is the input of
        /// <paramref name="from"/> (an image batch for Stem, else the previous stage's output).
        /// </summary>
        public Tensor Forward(Tensor x, ResNetStage from, ResNetStage to)
        {
            if (to < from)
                throw new ArgumentException($"Stage range {from.Name()}..{to.Name()} is empty.");
            using var scope = NewDisposeScope();
            var y = x;
            for (var stage = from; stage <= to; stage++)
                y = ForwardStage(stage, y);
            return ReferenceEquals(y, x) ? y : y.MoveToOuterDisposeScope();
        }

        /// <summary>Runs one stage.</summary>
        public Tensor ForwardStage(ResNetStage stage, Tensor x)
        {
            if (x is null) throw new ArgumentNullException(nameof(x));
            if (x.dim() != 4 || x.is_contiguous())
                return RunStage(stage, x);
            // The modules take NCHW. Given channels-last tensors (as the folded prefix writes them), oneDNN picks its
            // brgemm kernels, whose strided 1x1 convolution is wrong on some AVX-512 CPUs (see ConvolutionRoutes).
            using var nchw = x.contiguous();
            return RunStage(stage, nchw);
        }

        private Tensor RunStage(ResNetStage stage, Tensor x)
        {
            switch (stage)
            {
                case ResNetStage.Stem:
                    using (var scope = NewDisposeScope())
                        return maxpool.call(nn.functional.relu(bn1.call(conv1.call(x)))).MoveToOuterDisposeScope();
                case ResNetStage.Layer1: return layer1.call(x);
                case ResNetStage.Layer2: return layer2.call(x);
                case ResNetStage.Layer3: return layer3.call(x);
                case ResNetStage.Layer4: return layer4.call(x);
                case ResNetStage.Head:
                    using (var scope = NewDisposeScope())
                    {
                        var pooled = avgpool.call(x).flatten(1);
                        return (fc is null ? pooled : fc.call(pooled)).MoveToOuterDisposeScope();
                    }
                default:
                    throw new ArgumentOutOfRangeException(nameof(stage));
            }
        }

        /// <summary>Global-average-pooled features ([N, <see cref="ResNetDefinition.FeatureDimension"/>]) of an image
        /// batch.</summary>
        public Tensor Features(Tensor images)
        {
            using var scope = NewDisposeScope();
            var y = Forward(images, ResNetStage.Stem, ResNetStage.Layer4);
            return avgpool.call(y).flatten(1).MoveToOuterDisposeScope();
        }

        /// <summary>Parameters with their state-dict names and stages.</summary>
        public IEnumerable<(string Name, Parameter Parameter, ResNetStage Stage)> StagedParameters()
            => named_parameters().Select(p => (p.name, p.parameter, ResNetStages.OfParameter(p.name)));

        /// <summary>BatchNorm layers with their state-dict prefixes and stages.</summary>
        public IEnumerable<(string Name, BatchNorm Module, ResNetStage Stage)> BatchNorms()
            => named_modules().Where(m => m.module is BatchNorm)
                .Select(m => (m.name, (BatchNorm)m.module, ResNetStages.OfParameter(m.name + ".")));

        /// <summary>A one-line-per-stage description: stage, output shape for a given input size, parameter
        /// count.</summary>
        public IReadOnlyList<(ResNetStage Stage, long[] OutputShape, long Parameters)> StageTable(int imageSize)
        {
            var rows = new List<(ResNetStage, long[], long)>();
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            bool wasTraining = training;
            eval();
            var y = zeros(1, 3, imageSize, imageSize);
            foreach (var stage in ResNetStages.All)
            {
                y = ForwardStage(stage, y);
                long count = StagedParameters().Where(p => p.Stage == stage).Sum(p => p.Parameter.numel());
                rows.Add((stage, y.shape, count));
            }
            train(wasTraining);
            return rows;
        }

        private void Initialize(Generator generator)
        {
            using var noGrad = no_grad();
            foreach (var (name, module) in named_modules())
            {
                switch (module)
                {
                    case Conv2d conv:
                        // torchvision: kaiming_normal_(mode="fan_out", nonlinearity="relu"). Tensor methods, because
                        // TorchSharp's nn.init functions ignore their generator argument.
                        long fanOut = conv.weight.shape[0] * conv.weight.shape[2] * conv.weight.shape[3];
                        conv.weight.normal_(0, Math.Sqrt(2.0 / fanOut), generator);
                        if (conv.bias is not null)
                        {
                            double bound = 1 / Math.Sqrt(
                                conv.weight.shape[1] * conv.weight.shape[2] * conv.weight.shape[3]);
                            conv.bias.uniform_(-bound, bound, generator);
                        }
                        break;
                    case BatchNorm bn:
                        nn.init.ones_(bn.weight);
                        nn.init.zeros_(bn.bias);
                        break;
                    case Linear linear:
                        // PyTorch's default Linear init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias.
                        double b = 1 / Math.Sqrt(linear.weight.shape[1]);
                        linear.weight.uniform_(-b, b, generator);
                        linear.bias.uniform_(-b, b, generator);
                        break;
                }
            }
        }

        private static Sequential MakeLayer(ref long inChannels, long width, int blocks, long stride,
            ResNetDefinition definition)
        {
            var modules = new List<(string, nn.Module<Tensor, Tensor>)>();
            for (int i = 0; i < blocks; i++)
            {
                long s = i == 0 ? stride : 1;
                nn.Module<Tensor, Tensor> block = definition.BlockType == ResNetBlockType.Basic
                    ? new BasicBlock(nameof(BasicBlock), inChannels, width, s, definition)
                    : new Bottleneck(nameof(Bottleneck), inChannels, width, s, definition);
                modules.Add((i.ToString(System.Globalization.CultureInfo.InvariantCulture), block));
                inChannels = width * definition.Expansion;
            }
            return nn.Sequential(modules);
        }
    }
}

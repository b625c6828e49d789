// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>The arithmetic of an inference pass through a <see cref="FoldedResNet"/>.</summary>
    public enum InferencePrecision
    {
        /// <summary>float32 throughout: the same results as the module up to float rounding (about 1e-5). The
        /// default.</summary>
        Float32 = 0,
        /// <summary>
        /// bfloat16 weights and activations (float32 accumulation inside oneDNN), float32 out. About twice as fast on
        /// CPUs with AVX512_BF16 (slower elsewhere); logits move by about 1% of their range. Opt-in.
        /// </summary>
        BFloat16 = 1,
    }

    /// <summary>
    /// An inference-only snapshot of a contiguous range of a <see cref="ResNet"/>'s stages, with every BatchNorm folded
    /// into the convolution before it (<c>w' = w·γ/√(σ²+ε)</c>, <c>b' = β + (b − μ)·γ/√(σ²+ε)</c>) and the weights laid
    /// out channels-last, the layout oneDNN computes in; activations flow channels-last too. It runs under
    /// <c>no_grad</c> and gives the module's results up to float rounding (bfloat16 when asked).
    /// </summary>
    /// <remarks>
    /// A snapshot: later changes to the network's weights or BatchNorm statistics do not reach it; make a new one
    /// (folding ResNet-18 takes a few milliseconds). It owns its tensors: dispose it. Create it with
    /// <see cref="ResNet.Fold(ResNetStage, ResNetStage, InferencePrecision)"/>, which requires every BatchNorm in the
    /// range to be in eval mode (batch statistics cannot be folded). Thread-safe for concurrent
    /// <see cref="Forward(Tensor)"/> calls (it only reads its tensors).
    /// </remarks>
    public sealed class FoldedResNet : IDisposable
    {
        private readonly Dictionary<ResNetStage, Stage> _stages;
        private readonly Tensor _fcWeight;
        private readonly Tensor _fcBias;
        private readonly ScalarType _dtype;
        private bool _disposed;

        internal FoldedResNet(ResNetDefinition definition, ResNetStage from, ResNetStage to,
            InferencePrecision precision,
            Dictionary<ResNetStage, Stage> stages, Tensor fcWeight, Tensor fcBias)
        {
            Definition = definition;
            From = from;
            To = to;
            Precision = precision;
            _dtype = precision == InferencePrecision.BFloat16 ? ScalarType.BFloat16 : ScalarType.Float32;
            _stages = stages;
            _fcWeight = fcWeight;
            _fcBias = fcBias;
        }

        /// <summary>The definition of the network this was folded from.</summary>
        public ResNetDefinition Definition { get; }
        /// <summary>The first stage this snapshot runs.</summary>
        public ResNetStage From { get; }
        /// <summary>The last stage this snapshot runs.</summary>
        public ResNetStage To { get; }
        /// <summary>The arithmetic of the pass.</summary>
        public InferencePrecision Precision { get; }

        /// <summary>
        /// Runs stages <see cref="From"/>..<see cref="To"/>: <paramref name="x"/> is the input of <see cref="From"/>
        /// (an image batch [N, 3, H, W] for Stem), in any memory layout. The result is float32; a stage output [N, C,
        /// H, W] comes channels-last (call <c>contiguous()</c> for the NCHW layout), the head's [N, classes] is
        /// contiguous. The caller owns it.
        /// </summary>
        public Tensor Forward(Tensor x) => Forward(x, From, To);

        /// <summary>Runs stages <paramref name="from"/>..<paramref name="to"/>, a sub-range of this snapshot's (see
        /// <see cref="Forward(Tensor)"/>).</summary>
        public Tensor Forward(Tensor x, ResNetStage from, ResNetStage to)
        {
            if (x is null) throw new ArgumentNullException(nameof(x));
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (from < From || to > To || to < from)
                throw new ArgumentOutOfRangeException(nameof(from),
                    $"Stages {from.Name()}..{to.Name()} are not within this snapshot's {From.Name()}..{To.Name()}.");
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            var y = x;
            if (y.dim() == 4 && from != ResNetStage.Head)
            {
                if (y.dtype != _dtype) y = y.to_type(_dtype);
                if (!IsChannelsLast(y)) y = ToChannelsLast(y);
            }
            for (var stage = from; stage <= to; stage++)
            {
                var next = RunStage(stage, y);
                if (!ReferenceEquals(y, x)) y.Dispose(); // early, to keep the peak low; never the caller's tensor
                y = next;
            }
            if (y.dtype != ScalarType.Float32)
                y = y.to_type(ScalarType.Float32);
            return y.MoveToOuterDisposeScope();
        }

        /// <summary>Runs one stage (see <see cref="Forward(Tensor)"/>).</summary>
        public Tensor ForwardStage(ResNetStage stage, Tensor x) => Forward(x, stage, stage);

        /// <summary>
        /// The same tensor laid out channels-last (NHWC strides, still indexed [N, C, H, W]); returns an alias when it
        /// already is. The layout oneDNN's convolutions read and write without reordering.
        /// </summary>
        public static Tensor ToChannelsLast(Tensor x)
        {
            if (x is null) throw new ArgumentNullException(nameof(x));
            if (x.dim() != 4)
                throw new ArgumentException($"Expected a 4-d tensor [N, C, H, W]; got {x.dim()} dimensions.",
                    nameof(x));
            if (IsChannelsLast(x))
                return x.alias();
            using var scope = NewDisposeScope(); // holds each intermediate until the next call returned
            return x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2).MoveToOuterDisposeScope();
        }

        /// <summary>Whether a 4-d tensor has dense channels-last strides.</summary>
        public static bool IsChannelsLast(Tensor x)
        {
            if (x is null || x.dim() != 4) return false;
            var shape = x.shape;
            var strides = x.stride();
            long n = shape[0], c = shape[1], h = shape[2], w = shape[3];
            return (c == 1 || strides[1] == 1)
                && (w == 1 || strides[3] == c)
                && (h == 1 || strides[2] == c * w)
                && (n == 1 || strides[0] == c * w * h);
        }

        private Tensor RunStage(ResNetStage stage, Tensor x)
        {
            if (stage == ResNetStage.Head)
            {
                using var input = x.dtype == ScalarType.Float32 ? x.alias() : x.to_type(ScalarType.Float32);
                using var pooled = nn.functional.adaptive_avg_pool2d(input, new long[] { 1, 1 }).flatten(1);
                return _fcWeight is null ? pooled.alias() : nn.functional.linear(pooled, _fcWeight, _fcBias);
            }
            var y = _stages[stage].Forward(x);
            if (IsChannelsLast(y))
                return y;
            using (y) // a shape that fell back to NCHW (ConvolutionRoutes): keep the documented layout
                return ToChannelsLast(y);
        }

        /// <summary>
        /// Raised, once per convolution shape and process, when a folded convolution's fast kernel disagrees with a
        /// plain matrix product on real data and another route takes over (see the README's numerics notes), unless the
        /// fold has a log of its own: the engine's goes to <see cref="FineTuneOptions.Log"/>, the transformers' to
        /// ML.NET's log. Without a handler the message goes to standard error.
        /// </summary>
        public static event Action<string> KernelFallback;

        internal static void ReportFallback(string message, Action<string> log)
        {
            if (log is not null)
            {
                log(message);
                return;
            }
            var handlers = KernelFallback;
            if (handlers is null)
                Console.Error.WriteLine("Microsoft.ML.Freezing: " + message);
            else
                handlers(message);
        }

        /// <inheritdoc/>
        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var stage in _stages.Values)
                stage.Dispose();
            _fcWeight?.Dispose();
            _fcBias?.Dispose();
        }

        /// <summary>Builds the snapshot of <paramref name="network"/>'s stages
        /// <paramref name="from"/>..<paramref name="to"/>.</summary>
        internal static FoldedResNet Create(ResNet network, ResNetStage from, ResNetStage to,
            InferencePrecision precision,
            Action<string> log)
        {
            if (to < from)
                throw new ArgumentException($"Stage range {from.Name()}..{to.Name()} is empty.");
            if (!Enum.IsDefined(precision))
                throw new ArgumentOutOfRangeException(nameof(precision), precision, "Unknown precision.");
            var modules = network.named_modules().ToDictionary(m => m.name, m => m.module);
            foreach (var (name, module) in modules)
            {
                if (module is BatchNorm bn && bn.training && ResNetStages.OfParameter(name + ".") is var s
                    && s >= from && s <= to)
                    throw new InvalidOperationException(
                        $"BatchNorm '{name}' is in training mode: batch statistics cannot be folded. Put the stages " +
                        "in eval mode first.");
            }
            // A batch's activations (100 MB at 224 px, batch 32) are freed and asked for again at every batch.
            NativeHeap.KeepFreedBlocks();
            var dtype = precision == InferencePrecision.BFloat16 ? ScalarType.BFloat16 : ScalarType.Float32;
            var definition = network.Definition;
            var stages = new Dictionary<ResNetStage, Stage>();
            Tensor fcWeight = null, fcBias = null;
            try
            {
                using var noGrad = no_grad();
                for (var stage = from; stage <= to; stage++)
                {
                    switch (stage)
                    {
                        case ResNetStage.Stem:
                            var conv = FoldedConv.Create(modules, "conv1", "bn1", definition.BatchNormEpsilon, dtype,
                                log);
                            stages[stage] = new Stem(conv);
                            break;
                        case ResNetStage.Head:
                            if (modules.TryGetValue("fc", out var fc) && fc is Linear linear)
                            {
                                using var scope = NewDisposeScope(); // holds each detach() until its clone returned
                                fcWeight = linear.weight.detach().clone().DetachFromDisposeScope();
                                fcBias = linear.bias?.detach().clone().DetachFromDisposeScope();
                            }
                            break;
                        default:
                            stages[stage] = Layer.Create(modules, stage, definition, dtype, log);
                            break;
                    }
                }
            }
            catch
            {
                foreach (var s in stages.Values) s.Dispose();
                fcWeight?.Dispose();
                fcBias?.Dispose();
                throw;
            }
            return new FoldedResNet(definition, from, to, precision, stages, fcWeight, fcBias);
        }

        internal abstract class Stage : IDisposable
        {
            public abstract Tensor Forward(Tensor x);
            public abstract void Dispose();
        }

        private sealed class Stem : Stage
        {
            private readonly FoldedConv _conv;

            public Stem(FoldedConv conv) => _conv = conv;

            // The module's max pooling (ResNet.MaxPool*).
            public override Tensor Forward(Tensor x)
            {
                using var y = _conv.Forward(x).relu_();
                return nn.functional.max_pool2d(y, ResNet.MaxPoolKernel, ResNet.MaxPoolStride, ResNet.MaxPoolPadding);
            }

            public override void Dispose() => _conv.Dispose();
        }

        private sealed class Block : IDisposable
        {
            private readonly FoldedConv[] _convs;   // conv1, conv2 (, conv3): ReLU after each but the last
            private readonly FoldedConv _downsample;

            public Block(FoldedConv[] convs, FoldedConv downsample)
            {
                _convs = convs;
                _downsample = downsample;
            }

            public Tensor Forward(Tensor x)
            {
                var y = x;
                for (int i = 0; i < _convs.Length; i++)
                {
                    var next = _convs[i].Forward(y);
                    if (!ReferenceEquals(y, x)) y.Dispose();
                    y = i < _convs.Length - 1 ? next.relu_() : next;
                }
                if (_downsample is null)
                    return y.AddInPlace(x).relu_();
                using var identity = _downsample.Forward(x);
                return y.AddInPlace(identity).relu_();
            }

            public void Dispose()
            {
                foreach (var c in _convs) c.Dispose();
                _downsample?.Dispose();
            }
        }

        private sealed class Layer : Stage
        {
            private readonly List<Block> _blocks;

            private Layer(List<Block> blocks) => _blocks = blocks;

            public static Layer Create(IReadOnlyDictionary<string, nn.Module> modules, ResNetStage stage,
                ResNetDefinition definition, ScalarType dtype, Action<string> log)
            {
                int layer = (int)stage;
                var blocks = new List<Block>();
                int convsPerBlock = definition.BlockType == ResNetBlockType.Basic ? 2 : 3;
                try
                {
                    for (int i = 0; i < definition.Depths[layer - 1]; i++)
                    {
                        string prefix = $"layer{layer}.{i}.";
                        var convs = new FoldedConv[convsPerBlock];
                        for (int k = 0; k < convsPerBlock; k++)
                            convs[k] = FoldedConv.Create(modules, $"{prefix}conv{k + 1}", $"{prefix}bn{k + 1}",
                                definition.BatchNormEpsilon, dtype, log);
                        var downsample = modules.ContainsKey(prefix + "downsample.0")
                            ? FoldedConv.Create(modules, prefix + "downsample.0", prefix + "downsample.1",
                                definition.BatchNormEpsilon, dtype, log)
                            : null;
                        blocks.Add(new Block(convs, downsample));
                    }
                }
                catch
                {
                    foreach (var b in blocks) b.Dispose();
                    throw;
                }
                return new Layer(blocks);
            }

            public override Tensor Forward(Tensor x)
            {
                var y = x;
                foreach (var block in _blocks)
                {
                    var next = block.Forward(y);
                    if (!ReferenceEquals(y, x)) y.Dispose();
                    y = next;
                }
                return y;
            }

            public override void Dispose()
            {
                foreach (var b in _blocks) b.Dispose();
            }
        }
    }
}

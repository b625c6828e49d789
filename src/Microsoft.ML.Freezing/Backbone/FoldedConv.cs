// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// A convolution with its BatchNorm folded in (<c>w' = w·γ/√(σ²+ε)</c>, <c>b' = β + (b − μ)·γ/√(σ²+ε)</c>), run
    /// through the route <see cref="ConvolutionRoutes"/> trusts for its shape on this machine.
    /// </summary>
    internal sealed class FoldedConv : IDisposable
    {
        private readonly Tensor _weight;      // channels-last strides
        private Tensor _contiguousWeight;     // NCHW copy, made on first use by the NCHW route
        private readonly object _lock = new object();

        private FoldedConv(Tensor weight, Tensor bias, long[] stride, long[] padding, long[] dilation, long groups,
            Action<string> log)
        {
            Log = log;
            _weight = weight;
            Bias = bias;
            Stride = stride;
            Padding = padding;
            Dilation = dilation;
            Groups = groups;
        }

        public Tensor Bias { get; }
        /// <summary>Where a route fallback is reported; null: <see cref="FoldedResNet.KernelFallback"/>.</summary>
        public Action<string> Log { get; }
        public long[] Stride { get; }
        public long[] Padding { get; }
        public long[] Dilation { get; }
        public long Groups { get; }
        public long[] WeightShape => _weight.shape;
        public ScalarType DType => _weight.dtype;

        public static FoldedConv Create(IReadOnlyDictionary<string, nn.Module> modules, string convName, string bnName,
            double eps, ScalarType dtype, Action<string> log)
        {
            if (!modules.TryGetValue(convName, out var c) || c is not Conv2d conv)
                throw new InvalidOperationException($"The network has no convolution '{convName}'.");
            if (!modules.TryGetValue(bnName, out var b) || b is not BatchNorm bn)
                throw new InvalidOperationException($"The network has no BatchNorm '{bnName}'.");
            if (conv.padding_type.HasValue)
                throw new NotSupportedException(
                    $"Convolution '{convName}' uses symbolic padding, which folding does not support.");
            using var scope = NewDisposeScope();
            using TorchSharp.Scalar epsilon = eps; // disposed after the last use: see Scalars
            // float32 throughout (rounding ~1e-7 relative). Every tensor here is new: the module's are only read.
            var scale = bn.weight.detach().div(bn.running_var.detach().add(epsilon, Scalars.One).sqrt_());
            var shift = conv.bias is null // b - m as -m + b: the same float, and no temporary Scalar
                ? bn.running_mean.detach().neg()
                : bn.running_mean.detach().neg().AddInPlace(conv.bias.detach());
            var bias = bn.bias.detach().add(shift.mul_(scale), Scalars.One);
            var weight = conv.weight.detach().mul(scale.view(-1, 1, 1, 1));
            if (!FoldedResNet.IsChannelsLast(weight))
                weight = FoldedResNet.ToChannelsLast(weight);
            if (dtype != ScalarType.Float32)
            {
                weight = weight.to_type(dtype);
                bias = bias.to_type(dtype);
            }
            return new FoldedConv(weight.DetachFromDisposeScope(), bias.DetachFromDisposeScope(),
                (long[])conv.stride.Clone(), (long[])conv.padding.Clone(), (long[])conv.dilation.Clone(), conv.groups,
                log);
        }

        /// <summary>The convolution of <paramref name="x"/>, through the route trusted for its shape.</summary>
        public Tensor Forward(Tensor x) => ConvolutionRoutes.Run(this, x);

        /// <summary>The convolution through one route (see <see cref="ConvolutionRoute"/>).</summary>
        internal Tensor Run(ConvolutionRoute route, Tensor x)
        {
            switch (route)
            {
                case ConvolutionRoute.ChannelsLast:
                    using (var input = FoldedResNet.ToChannelsLast(x))
                        return nn.functional.conv2d(input, _weight, Bias, Stride, Padding, Dilation, Groups);
                case ConvolutionRoute.Nchw:
                    using (var input = x.contiguous())
                        return nn.functional.conv2d(input, ContiguousWeight(), Bias, Stride, Padding, Dilation, Groups);
                case ConvolutionRoute.Gemm:
                    return Gemm(x);
                default:
                    throw new ArgumentOutOfRangeException(nameof(route));
            }
        }

        /// <summary>
        /// The convolution as a matrix product (im2col, then one GEMM), with no convolution kernel involved: the
        /// reference of the route check and the last resort. Groups are not supported (ResNets have none).
        /// </summary>
        internal Tensor Gemm(Tensor x) => Gemm(x, _weight, Bias);

        /// <summary>The matrix-product convolution in float32 whatever the weights' type: the route check's
        /// reference.</summary>
        internal Tensor GemmFloat32(Tensor x)
        {
            using var scope = NewDisposeScope();
            var y = Gemm(x.to_type(ScalarType.Float32), _weight.to_type(ScalarType.Float32),
                Bias.to_type(ScalarType.Float32));
            return y.MoveToOuterDisposeScope();
        }

        /// <summary>A 1x1 convolution without padding or groups: a matrix product is all it is.</summary>
        internal bool IsPointwise
            => _weight.shape[2] == 1 && _weight.shape[3] == 1 && Padding[0] == 0 && Padding[1] == 0
            && Groups == 1;

        private Tensor Gemm(Tensor x, Tensor weight, Tensor bias)
        {
            if (Groups != 1)
                throw new NotSupportedException("The matrix-product convolution has no groups.");
            using var scope = NewDisposeScope();
            var shape = weight.shape;
            long n = x.shape[0], outChannels = shape[0];
            long outH = OutputSize(x.shape[2], shape[2], 0);
            long outW = OutputSize(x.shape[3], shape[3], 1);
            Tensor y;
            if (IsPointwise)
            {
                // 1x1: channels-last pixels times the weight matrix; a stride picks pixels first.
                var picked = Stride[0] == 1 && Stride[1] == 1 ? x : x[.., .., TensorIndex.Slice(null, null, Stride[0]),
                    TensorIndex.Slice(null, null, Stride[1])];
                var pixels = picked.permute(0, 2, 3, 1).reshape(-1, shape[1]);
                y = addmm(bias, pixels, weight.view(outChannels, shape[1]).t(), 1, 1)
                    .view(n, outH, outW, outChannels).permute(0, 3, 1, 2);
            }
            else
            {
                var columns = nn.functional.unfold(x.contiguous(), (shape[2], shape[3]), (Dilation[0], Dilation[1]),
                    (Padding[0], Padding[1]), (Stride[0], Stride[1]));
                y = weight.reshape(outChannels, -1).matmul(columns).AddInPlace(bias.view(1, -1, 1))
                    .view(n, outChannels, outH, outW);
            }
            return y.MoveToOuterDisposeScope();
        }

        private long OutputSize(long input, long kernel, int axis)
            => (input + 2 * Padding[axis] - Dilation[axis] * (kernel - 1) - 1) / Stride[axis] + 1;

        private Tensor ContiguousWeight()
        {
            lock (_lock)
                return _contiguousWeight ??= _weight.contiguous().DetachFromDisposeScope();
        }

        public void Dispose()
        {
            _weight.Dispose();
            Bias.Dispose();
            _contiguousWeight?.Dispose();
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>How a folded convolution is computed.</summary>
    internal enum ConvolutionRoute
    {
        /// <summary>oneDNN on channels-last tensors (its brgemm kernels): the fast route.</summary>
        ChannelsLast,
        /// <summary>oneDNN on NCHW tensors (its blocked jit kernels), as the plain modules run.</summary>
        Nchw,
        /// <summary>im2col and one matrix product: no convolution kernel involved.</summary>
        Gemm,
    }

    /// <summary>
    /// Which route each folded convolution takes on this machine, checked on real data the first time a shape is seen.
    /// </summary>
    /// <remarks>
    /// oneDNN picks a convolution kernel per shape, instruction set and cache sizes, so a fast kernel that is right on
    /// one CPU can be wrong on another: on a 2-core AMD EPYC VM with AVX-512 VP2INTERSECT, its channels-last brgemm
    /// kernels computed ResNet-18's layer4 with a relative error of 0.2 while the NCHW kernels were right. So the first
    /// batch of every shape (batch size, channels, spatial size, kernel, stride, padding, dtype, threads) runs the fast
    /// route and compares its first and last images with <see cref="FoldedConv.Gemm(Tensor)"/> (a matrix product,
    /// independent of every convolution kernel). A shape that disagrees by more than <see cref="Tolerance"/> of the
    /// output's range takes the next route that agrees (NCHW, then the matrix product) for the rest of the process, and
    /// <see cref="FoldedResNet.KernelFallback"/> says so once. The check costs two images' worth of matrix products
    /// once per shape and process.
    /// </remarks>
    internal static class ConvolutionRoutes
    {
        private static readonly ConcurrentDictionary<Signature, ConvolutionRoute> Routes = new();

        /// <summary>For tests: corrupts what a route computes for a shape, as a faulty kernel would. Null:
        /// none.</summary>
        internal static Func<ConvolutionRoute, Signature, Tensor, Tensor> FaultForTesting { get; set; }

        /// <summary>The largest difference accepted, relative to the largest absolute reference value.</summary>
        internal static double Tolerance(ScalarType dtype) => dtype == ScalarType.Float32 ? 1e-4 : 2e-2;

        /// <summary>Forgets every decision (tests).</summary>
        internal static void Reset() => Routes.Clear();

        /// <summary>The decisions made so far in this process.</summary>
        internal static IReadOnlyDictionary<Signature, ConvolutionRoute> Decisions => Routes;

        /// <summary>For tests and the benchmark: the route a convolution takes, unchecked; null: the checked
        /// route.</summary>
        internal static Func<FoldedConv, ConvolutionRoute?> ForcedForTesting { get; set; }

        public static Tensor Run(FoldedConv conv, Tensor x)
        {
            var signature = Signature.Of(conv, x);
            if (ForcedForTesting?.Invoke(conv) is { } forced)
                return Compute(conv, forced, signature, x);
            if (Routes.TryGetValue(signature, out var route))
                return Compute(conv, route, signature, x);
            return Decide(conv, signature, x);
        }

        private static Tensor Compute(FoldedConv conv, ConvolutionRoute route, Signature signature, Tensor x)
        {
            var y = conv.Run(route, x);
            var fault = FaultForTesting;
            if (fault is null)
                return y;
            using (y)
                return fault(route, signature, y);
        }

        private static Tensor Decide(FoldedConv conv, Signature signature, Tensor x)
        {
            using var reference = Reference(conv, x);
            if (!IsFinite(reference)) // nothing to judge a kernel by: compute, decide on a later batch
                return Compute(conv, ConvolutionRoute.ChannelsLast, signature, x);
            var failures = new List<string>();
            foreach (var route in Candidates(conv))
            {
                var y = Compute(conv, route, signature, x);
                double error = RelativeError(y, reference);
                if (error <= Tolerance(conv.DType))
                {
                    Routes[signature] = route;
                    if (failures.Count > 0)
                        FoldedResNet.ReportFallback(
                            $"Folded convolution {signature}: {string.Join("; ", failures)}. Using the {Name(route)} " +
                            "route " +
                            $"(relative error {error:G2}) for this shape in this process.", conv.Log);
                    return y;
                }
                failures.Add($"the {Name(route)} route is off by {error:G2} of the output's range");
                y.Dispose();
            }
            throw new InvalidOperationException(
                $"No convolution route agrees with the matrix-product reference for {signature}: " +
                string.Join("; ", failures) + ".");
        }

        private static IEnumerable<ConvolutionRoute> Candidates(FoldedConv conv)
        {
            // A 1x1 convolution is a matrix product: MKL's GEMM never reaches oneDNN's brgemm 1x1 blocking heuristics,
            // which divided by zero (SIGFPE) on a VM. It costs 16% on ResNet-50, where most convolutions are 1x1.
            if (conv.IsPointwise)
                yield return ConvolutionRoute.Gemm;
            else
                yield return ConvolutionRoute.ChannelsLast;
            yield return ConvolutionRoute.Nchw;
            if (conv.Groups == 1 && !conv.IsPointwise)
                yield return ConvolutionRoute.Gemm;
        }

        /// <summary>The first and last images' output through the matrix product, in float32.</summary>
        private static Tensor Reference(FoldedConv conv, Tensor x)
        {
            using var scope = NewDisposeScope();
            var sample = Sample(x);
            var y = conv.Groups == 1 ? conv.GemmFloat32(sample) : conv.Run(ConvolutionRoute.Nchw, sample);
            return y.to_type(ScalarType.Float32).MoveToOuterDisposeScope();
        }

        private static bool IsFinite(Tensor t)
        {
            using var scope = NewDisposeScope();
            return t.isfinite().all().item<bool>();
        }

        private static Tensor Sample(Tensor x)
        {
            long n = x.shape[0];
            return n == 1 ? x.alias() : x.index_select(0, tensor(new long[] { 0, n - 1 }, device: x.device));
        }

        /// <summary>max |y − reference| over max |reference| on the sampled images.</summary>
        private static double RelativeError(Tensor y, Tensor reference)
        {
            using var scope = NewDisposeScope();
            var sampled = Sample(y).to_type(ScalarType.Float32);
            double range = reference.abs().max().item<float>();
            double difference = sampled.Minus(reference).abs().max().item<float>();
            if (double.IsNaN(difference))
                return double.PositiveInfinity;
            return difference / Math.Max(range, 1e-12);
        }

        private static string Name(ConvolutionRoute route) => route switch
        {
            ConvolutionRoute.ChannelsLast => "channels-last",
            ConvolutionRoute.Nchw => "NCHW",
            _ => "matrix-product",
        };

        /// <summary>What a kernel choice depends on: shapes, hyper-parameters, dtype, layout and threads.</summary>
        internal readonly record struct Signature(string Input, string Weight, string Stride, string Padding,
            ScalarType DType, int Threads)
        {
            public static Signature Of(FoldedConv conv, Tensor x) => new Signature(
                string.Join("x", x.shape), string.Join("x", conv.WeightShape), string.Join("x", conv.Stride),
                string.Join("x", conv.Padding), conv.DType, get_num_threads());

            public override string ToString()
                => $"input {Input}, weight {Weight}, stride {Stride}, padding {Padding}, {DType}, {Threads} threads";
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// The modules' 1x1 convolutions as matrix products: channels-last pixels times the weight matrix (MKL's GEMM),
    /// forward and backward through autograd, so that training never creates oneDNN's 1x1 convolution kernels.
    /// </summary>
    /// <remarks>
    /// oneDNN (3.7.1 in libtorch 2.10) chooses the blocking of its brgemm 1x1 kernels from the cache sizes the CPU
    /// reports, and on a 2-core Zen 5 VM with VP2INTERSECT, whose CPUID reports an L3 of 508 MiB, it divides by zero:
    /// in the folded path's channels-last 1x1 forward (see <see cref="ConvolutionRoutes"/>), and in the backward-data
    /// pass of the plain NCHW modules (<c>brgemm_convolution_bwd_utils::brg_blocking_t::est_eff_1x1</c>): one training
    /// step of ResNet-50 (torchvision's or Keras') with everything trainable ended the process with SIGFPE, with or
    /// without AVX2 caps, and so did the sample's <c>--weights keras-resnet50</c> once <c>Auto</c> thawed. A signal
    /// cannot be caught and checked like a wrong result, so the kernel is never created. On that VM ResNet-50 trains at
    /// 15-22 img/s at 112 px (batch 32) this way, and ResNet-18 (three 1x1 shortcuts) runs the seed's recipe as fast as
    /// with oneDNN's kernels (32.0 and 34.4 s against 32.5 and 34.2 s). The same routing serves inference of the
    /// modules; the folded network routes its own 1x1 convolutions likewise.
    /// </remarks>
    internal static class PointwiseConvolution
    {
        /// <summary><paramref name="conv"/> applied to <paramref name="x"/> (NCHW); a 1x1 convolution without padding
        /// as a matrix product with NCHW output, any other through the module.</summary>
        public static Tensor Call(Conv2d conv, Tensor x)
        {
            if (!IsPointwise(conv))
                return conv.call(x);
            using var scope = NewDisposeScope();
            long strideH = conv.stride[0], strideW = conv.stride[1];
            // A stride picks pixels first: a 1x1 kernel sees nothing between them.
            var picked = strideH == 1 && strideW == 1 ? x
                : x[.., .., TensorIndex.Slice(null, null, strideH), TensorIndex.Slice(null, null, strideW)];
            long n = picked.shape[0], c = picked.shape[1], h = picked.shape[2], w = picked.shape[3];
            long outChannels = conv.weight.shape[0];
            var pixels = picked.permute(0, 2, 3, 1).reshape(n * h * w, c);
            // NCHW out, so the next 3x3 convolution gets the layout the modules always run (see ResNet.ForwardStage).
            var y = pixels.mm(conv.weight.view(outChannels, c).t())
                .view(n, h, w, outChannels).permute(0, 3, 1, 2).contiguous();
            if (conv.bias is not null)
                y = y.add(conv.bias.view(1, outChannels, 1, 1), Scalars.One); // a held Scalar: see Scalars
            return y.MoveToOuterDisposeScope();
        }

        private static bool IsPointwise(Conv2d conv)
            => conv.weight.shape[2] == 1 && conv.weight.shape[3] == 1 && conv.padding[0] == 0
            && conv.padding[1] == 0 && conv.dilation[0] == 1 && conv.dilation[1] == 1 && conv.groups == 1
            && !conv.padding_type.HasValue;
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing.Tests.Backbone
{
    /// <summary>
    /// The modules' 1x1 convolutions run as matrix products (PointwiseConvolution): values and gradients (input,
    /// weight, bias) equal a float64 convolution's, which libtorch computes without oneDNN, within float rounding;
    /// other kernels still go through the module.
    /// </summary>
    [TestClass]
    [TestCategory(Categories.Numerical)]
    public sealed class PointwiseConvolutionTests
    {
        [TestMethod]
        [DataRow(1, true)]
        [DataRow(2, true)]
        [DataRow(2, false)]
        public void AsAMatrixProductItEqualsTheConvolutionForwardAndBackward(int stride, bool bias)
        {
            using var scope = NewDisposeScope();
            var generator = new Generator(3);
            var conv = nn.Conv2d(24, 40, 1, stride: stride, bias: bias);
            using (no_grad())
            {
                conv.weight.normal_(0, 0.2, generator);
                conv.bias?.uniform_(-1, 1, generator);
            }
            var x = randn(new long[] { 3, 24, 9, 9 }, generator: generator).requires_grad_();
            var y = PointwiseConvolution.Call(conv, x);
            var outputGradient = randn(y.shape, generator: generator);
            y.backward(new[] { outputGradient });

            var x64 = x.detach().to_type(ScalarType.Float64).requires_grad_();
            var w64 = conv.weight.detach().to_type(ScalarType.Float64).requires_grad_();
            var b64 = bias ? conv.bias.detach().to_type(ScalarType.Float64).requires_grad_() : null;
            var expected = nn.functional.conv2d(x64, w64, b64, strides: new long[] { stride, stride });
            expected.backward(new[] { outputGradient.to_type(ScalarType.Float64) });

            CollectionAssert.AreEqual(expected.shape, y.shape);
            Assert.IsTrue(y.is_contiguous(), "the output is NCHW");
            AssertClose(expected, y, "output");
            AssertClose(x64.grad, x.grad, "input gradient");
            AssertClose(w64.grad, conv.weight.grad, "weight gradient");
            if (bias)
                AssertClose(b64.grad, conv.bias.grad, "bias gradient");
        }

        [TestMethod]
        public void AKernelWiderThanOnePixelGoesThroughTheModule()
        {
            using var scope = NewDisposeScope();
            var conv = nn.Conv2d(4, 6, 3, padding: 1, bias: false);
            var x = randn(new long[] { 2, 4, 5, 5 }, generator: new Generator(1));
            using var noGrad = no_grad();
            Assert.IsTrue(conv.call(x).eq(PointwiseConvolution.Call(conv, x)).all().item<bool>());
        }

        private static void AssertClose(Tensor expected, Tensor actual, string what)
        {
            double difference = ScoreComparison.RelativeDifference(expected.to_type(ScalarType.Float32), actual);
            Assert.IsTrue(difference <= 1e-5, $"{what} differs by {difference:G3} of its range");
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing.Tests.Backbone
{
    /// <summary>
    /// The folded network's convolution routes (<see cref="ConvolutionRoutes"/>): a fast kernel that computes wrong
    /// values is caught on the first batch of its shape, routed around, and reported once. A faulty kernel is simulated
    /// by corrupting what a route returns, as the channels-last brgemm kernels did for layer4 on an AVX-512 VM.
    /// </summary>
    [TestClass]
    [TestCategory(Categories.Numerical)]
    public sealed class ConvolutionRouteTests
    {
        private readonly List<string> _reports = new List<string>();

        [TestInitialize]
        public void Start()
        {
            ConvolutionRoutes.Reset();
            FoldedResNet.KernelFallback += _reports.Add;
        }

        [TestCleanup]
        public void Stop()
        {
            FoldedResNet.KernelFallback -= _reports.Add;
            ConvolutionRoutes.FaultForTesting = null;
            ConvolutionRoutes.Reset();
        }

        /// <summary>Adds 20% of the output's range where <paramref name="faulty"/> says, as the VM's layer4 kernel
        /// erred.</summary>
        private static void Corrupt(Func<ConvolutionRoute, ConvolutionRoutes.Signature, bool> faulty)
            => ConvolutionRoutes.FaultForTesting = (route, signature, y) =>
                faulty(route, signature) ? Shifted(y) : y.alias();

        private static Tensor Shifted(Tensor y)
        {
            using var range = y.abs().max();
            return y.add(range.mul_(0.2));
        }

        /// <summary>The 3x3 convolutions of the last stage: 4x4 pixels at 128 px in a tiny network.</summary>
        private static bool LastStage3x3(ConvolutionRoutes.Signature s)
            => s.Weight.EndsWith("x3x3") && s.Input.EndsWith("x4x4");

        private static double RelativeDifference(Tensor expected, Tensor actual)
        {
            double range = expected.abs().max().item<float>();
            return (expected - actual).abs().max().item<float>() / range;
        }

        [TestMethod]
        public void AWrongChannelsLastKernelIsRoutedToNchwAndReportedOnce()
        {
            using var model = FoldedResNetTests.EvalNetwork(TestData.TinyDefinition(4));
            using var images = FoldedResNetTests.Images(3, 128);
            using var expected = model.call(images);
            Corrupt((route, s) => route == ConvolutionRoute.ChannelsLast && LastStage3x3(s));
            using var folded = model.Fold();

            using var first = folded.Forward(images);
            using var second = folded.Forward(images);

            Assert.IsTrue(RelativeDifference(expected, first) <= 1e-4,
                $"first pass: {RelativeDifference(expected, first):G3}");
            Assert.IsTrue(TestData.Same(first, second), "the second pass takes the same routes");
            var fellBack = ConvolutionRoutes.Decisions.Where(
                d => d.Value != ConvolutionRoute.ChannelsLast && !d.Key.Weight.EndsWith("x1x1")).ToList();
            Assert.IsTrue(
                fellBack.Count > 0 && fellBack.All(d => LastStage3x3(d.Key) && d.Value == ConvolutionRoute.Nchw),
                string.Join("\n", ConvolutionRoutes.Decisions));
            Assert.AreEqual(fellBack.Count, _reports.Count, string.Join("\n", _reports));
            StringAssert.Contains(_reports[0], "channels-last route is off by 0.2");
            StringAssert.Contains(_reports[0], "Using the NCHW route");
        }

        [TestMethod]
        public void WhenEveryKernelIsWrongTheMatrixProductTakesOver()
        {
            using var model = FoldedResNetTests.EvalNetwork(TestData.TinyDefinition(4));
            using var images = FoldedResNetTests.Images(2, 128);
            using var expected = model.call(images);
            Corrupt((route, s) => route != ConvolutionRoute.Gemm && LastStage3x3(s));
            using var folded = model.Fold();

            using var actual = folded.Forward(images);

            Assert.IsTrue(RelativeDifference(expected, actual) <= 1e-4, $"{RelativeDifference(expected, actual):G3}");
            Assert.IsTrue(
                ConvolutionRoutes.Decisions.Where(d => LastStage3x3(d.Key)).All(d => d.Value == ConvolutionRoute.Gemm));
            Assert.IsTrue(_reports.All(r => r.Contains("NCHW route is off") && r.Contains("matrix-product route")),
                string.Join("\n", _reports));
        }

        [TestMethod]
        public void PointwiseConvolutionsAreMatrixProductsAndNothingIsReportedWhenKernelsAgree()
        {
            var definition = new ResNetDefinition(ResNetBlockType.Bottleneck, new[] { 1, 1, 1, 1 }, 5);
            using var model = FoldedResNetTests.EvalNetwork(definition);
            using var images = FoldedResNetTests.Images(2, 64);
            using var expected = model.call(images);
            using var folded = model.Fold();

            using var actual = folded.Forward(images);

            Assert.IsTrue(RelativeDifference(expected, actual) <= 1e-4, $"{RelativeDifference(expected, actual):G3}");
            foreach (var (signature, route) in ConvolutionRoutes.Decisions)
            {
                var expectedRoute = signature.Weight.EndsWith("x1x1") ? ConvolutionRoute.Gemm
                    : ConvolutionRoute.ChannelsLast;
                Assert.AreEqual(expectedRoute, route, signature.ToString());
            }
            Assert.AreEqual(0, _reports.Count, string.Join("\n", _reports));
        }

        [TestMethod]
        public void TheEnginesFrozenPrefixIsCheckedAndItsFallbackGoesToTheEnginesLog()
        {
            using var model = new ResNet(TestData.TinyDefinition(), seed: 4);
            using var images = TestData.RandomImages(8, size: 128);
            var log = new List<string>();
            Corrupt((route, s) => route == ConvolutionRoute.ChannelsLast && LastStage3x3(s));
            var options = new FineTuneOptions
            {
                Epochs = 1, BatchSize = 8, Freeze = FreezeMask.UpTo(ResNetStage.Layer4), Log = log.Add,
            };
            using (var tuner = new FineTuner(model, options))
                tuner.Fit(images);

            Assert.IsTrue(log.Any(l => l.Contains("channels-last route is off") && l.Contains("NCHW route")),
                string.Join("\n", log));
            Assert.AreEqual(0, _reports.Count, "the engine's log took the message: " + string.Join("\n", _reports));
        }

        [TestMethod]
        public void ABFloat16KernelIsCheckedAgainstFloat32()
        {
            using var model = FoldedResNetTests.EvalNetwork(TestData.TinyDefinition(4));
            using var images = FoldedResNetTests.Images(2, 128);
            using var expected = model.call(images);
            Corrupt((route, s) => route == ConvolutionRoute.ChannelsLast && LastStage3x3(s));
            using var folded = model.Fold(precision: InferencePrecision.BFloat16);

            using var actual = folded.Forward(images);

            Assert.IsTrue(RelativeDifference(expected, actual) <= 0.05, $"{RelativeDifference(expected, actual):G3}");
            Assert.IsTrue(_reports.Count > 0 && _reports.All(r => r.Contains("BFloat16")), string.Join("\n", _reports));
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing.Tests.Backbone
{
    /// <summary>BatchNorm folding and the channels-last inference snapshot (<see cref="ResNet.Fold"/>).</summary>
    [TestClass]
    [TestCategory(Categories.Numerical)]
    public sealed class FoldedResNetTests
    {
        /// <summary>Non-trivial BatchNorm statistics and affine parameters, so a wrong fold shows.</summary>
        internal static ResNet EvalNetwork(ResNetDefinition definition, ulong seed = 3)
        {
            var model = new ResNet(definition, seed: (long)seed);
            using var generator = new Generator(seed);
            using (no_grad())
            {
                foreach (var (_, bn, _) in model.BatchNorms())
                {
                    bn.weight.uniform_(0.5, 1.5, generator);
                    bn.bias.uniform_(-0.2, 0.2, generator);
                    bn.running_mean.uniform_(-0.2, 0.2, generator);
                    bn.running_var.uniform_(0.5, 2.0, generator);
                }
                foreach (var (name, p) in model.named_parameters()
                    .Where(p => p.name.EndsWith(".bias", StringComparison.Ordinal) && p.name.Contains("conv")))
                    p.uniform_(-0.1, 0.1, generator);
            }
            model.eval();
            return model;
        }

        internal static Tensor Images(int count, int size, ulong seed = 5)
        {
            using var generator = new Generator(seed);
            return randn(new long[] { count, 3, size, size }, generator: generator);
        }

        private static void AssertClose(Tensor expected, Tensor actual, double tolerance, string what)
        {
            CollectionAssert.AreEqual(expected.shape, actual.shape, what + ": shape");
            double scale = Math.Max(1, expected.abs().max().item<float>());
            double diff = (expected - actual).abs().max().item<float>();
            Assert.IsTrue(diff <= tolerance * scale,
                $"{what}: max difference {diff:G3} over {tolerance:G3} x {scale:G3}");
        }

        [TestMethod]
        [DataRow(ResNetBlockType.Basic, ResNetVariant.V1_5, false)]
        [DataRow(ResNetBlockType.Bottleneck, ResNetVariant.V1_5, false)]
        [DataRow(ResNetBlockType.Bottleneck, ResNetVariant.V1, true)]
        public void FoldedNetworkMatchesTheModuleWithin1e4(ResNetBlockType blocks, ResNetVariant variant, bool convBias)
        {
            var definition = new ResNetDefinition(blocks, new[] { 2, 1, 2, 1 }, 7, variant, convBias ? 1e-3 : 1e-5,
                convBias);
            using var model = EvalNetwork(definition);
            using var images = Images(3, 64);
            using var expected = model.call(images);
            using var folded = model.Fold();
            using var actual = folded.Forward(images);
            AssertClose(expected, actual, 1e-4, "logits");
        }

        [TestMethod]
        public void EveryStageRangeMatchesTheModule()
        {
            using var model = EvalNetwork(TestData.TinyDefinition(4));
            using var images = Images(2, 48);
            using var noGrad = no_grad();
            var inputs =
                new System.Collections.Generic.Dictionary<ResNetStage, Tensor> { [ResNetStage.Stem] = images.alias() };
            var y = images.alias();
            foreach (var stage in ResNetStages.All.Take(5))
            {
                y = model.ForwardStage(stage, y);
                inputs[stage + 1] = y;
            }
            foreach (var from in ResNetStages.All)
            {
                foreach (var to in ResNetStages.All.Where(s => s >= from))
                {
                    using var expected = model.Forward(inputs[from], from, to);
                    using var folded = model.Fold(from, to);
                    using var actual = folded.Forward(inputs[from]);
                    AssertClose(expected, actual, 1e-4, $"{from.Name()}..{to.Name()}");
                }
            }
            foreach (var t in inputs.Values) t.Dispose();
        }

        [TestMethod]
        public void FoldingLeavesTheNetworkBitIdenticalAndIsASnapshot()
        {
            using var model = EvalNetwork(TestData.TinyDefinition(3));
            var before = TestData.Snapshot(model);
            using var images = Images(2, 32);
            using var folded = model.Fold();
            using var first = folded.Forward(images);
            foreach (var (name, tensor) in model.state_dict())
                Assert.IsTrue(TestData.Same(before[name], tensor), $"{name} changed by folding");
            Assert.IsFalse(model.parameters().Any(p => p.grad is not null), "folding made gradients");

            // Later changes do not reach the snapshot.
            using (no_grad())
                foreach (var p in model.parameters()) p.mul_(0.5);
            using var again = folded.Forward(images);
            Assert.IsTrue(TestData.Same(first, again));
            TestData.Dispose(before);
        }

        [TestMethod]
        public void OutputIsChannelsLastAndTheInputIsNotTouched()
        {
            using var model = EvalNetwork(TestData.TinyDefinition(3));
            using var images = Images(2, 32);
            using var copy = images.clone();
            using var folded = model.Fold(ResNetStage.Stem, ResNetStage.Layer2);
            using var output = folded.Forward(images);
            Assert.IsTrue(FoldedResNet.IsChannelsLast(output));
            Assert.IsFalse(output.requires_grad);
            Assert.IsTrue(TestData.Same(copy, images));
            using var nchw = output.contiguous();
            using var expected = model.Forward(images, ResNetStage.Stem, ResNetStage.Layer2);
            AssertClose(expected, nchw, 1e-4, "contiguous copy");
        }

        [TestMethod]
        public void TrainingModeBatchNormCannotBeFolded()
        {
            using var model = EvalNetwork(TestData.TinyDefinition(3));
            model.train();
            var error = Assert.ThrowsExactly<InvalidOperationException>(() => model.Fold());
            StringAssert.Contains(error.Message, "training mode");
            // Only the range's BatchNorms count.
            foreach (var (_, bn, stage) in model.BatchNorms())
                if (stage <= ResNetStage.Layer2) bn.eval();
            using var prefix = model.Fold(ResNetStage.Stem, ResNetStage.Layer2);
            Assert.ThrowsExactly<ArgumentOutOfRangeException>(
                () => prefix.Forward(zeros(1, 3, 32, 32), ResNetStage.Stem, ResNetStage.Layer3));
        }

        [TestMethod]
        public void BFloat16StaysCloseAndReturnsFloat32()
        {
            using var model = EvalNetwork(TestData.TinyDefinition(5));
            using var images = Images(4, 64);
            using var expected = model.call(images);
            using var folded = model.Fold(precision: InferencePrecision.BFloat16);
            using var actual = folded.Forward(images);
            Assert.AreEqual(ScalarType.Float32, actual.dtype);
            AssertClose(expected, actual, 0.1, "bfloat16 logits");
        }
    }
}

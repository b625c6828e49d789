// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Linq;
using Microsoft.ML.Freezing.Tests.Reliability;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing.Tests.Backbone
{
    /// <summary>
    /// The residual sums, the input normalisation and the optimizer steps pass Scalars that no collection can free
    /// during the native call (see <c>Scalars</c>, <c>ScalarSafeOptimizers</c>). Here a thread collects garbage and
    /// runs finalizers without pause while the same calls run (<see cref="CollectingThread"/>); whole training runs
    /// under it: <see cref="CollectorTests"/>.
    /// </summary>
    [TestClass]
    public sealed class ScalarLifetimeTests
    {
        // Without the static Scalar (a.clone().add_(b)), this failed within a second on a 2-core AMD EPYC Zen 4 VM:
        // "Expected false to be true" from libtorch reading a freed Scalar.
        [TestMethod]
        public void ResidualSumsSurviveCollectionsDuringTheNativeCall()
        {
            using var a = zeros(4, 4);
            using var b = ones(4, 4);
            long calls = CollectingThread.Hammer(() =>
            {
                using var scope = NewDisposeScope();
                Assert.AreEqual(16f, a.clone().AddInPlace(b).sum().item<float>());
            }, TimeSpan.FromSeconds(3));
            Assert.IsTrue(calls > 1000, $"only {calls} calls in 3 s");
        }

        [TestMethod]
        public void NormalizeSurvivesCollectionsDuringTheNativeCall()
        {
            var preprocessing = ImagePreprocessing.ImageNet(8);
            using var bytes = full(new long[] { 1, 8, 8, 3 }, (byte)128, ScalarType.Byte);
            using var expected = preprocessing.Normalize(bytes);
            long calls = CollectingThread.Hammer(() =>
            {
                using var scope = NewDisposeScope();
                Assert.IsTrue(preprocessing.Normalize(bytes).allclose(expected, 0, 0));
            }, TimeSpan.FromSeconds(3));
            Assert.IsTrue(calls > 1000, $"only {calls} calls in 3 s");
        }

        private static Linear Layer(int size)
        {
            var layer = nn.Linear(size, size);
            using (no_grad())
            {
                layer.weight.copy_(arange(size * size, dtype: ScalarType.Float32).reshape(size, size).sin());
                layer.bias.copy_(arange(size, dtype: ScalarType.Float32).cos());
            }
            return layer;
        }

        private static void Step(optim.Optimizer optimizer, Linear layer, Tensor input)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var output = layer.forward(input);
            (output * output).mean().backward(); // no Scalar argument of the test's own (pow(2) would make one)
            optimizer.step();
        }

        private static optim.Optimizer Ours(string kind, Linear layer) => kind switch
        {
            "sgd" => new ScalarSafeSgd(new[] { new SGD.ParamGroup(layer.parameters(), lr: 0.05, momentum: 0.9,
                weight_decay: 1e-2) }, 0.05, 0.9, nesterov: false),
            "nesterov" => new ScalarSafeSgd(new[] { new SGD.ParamGroup(layer.parameters(), lr: 0.05, momentum: 0.9,
                weight_decay: 1e-2, nesterov: true) }, 0.05, 0.9, nesterov: true),
            _ => new ScalarSafeAdamW(new[] { new AdamW.ParamGroup(layer.parameters(), lr: 0.01,
                weight_decay: 1e-2) }, 0.01),
        };

        private static optim.Optimizer TorchSharps(string kind, Linear layer) => kind switch
        {
            "sgd" => optim.SGD(layer.parameters(), 0.05, momentum: 0.9, weight_decay: 1e-2),
            "nesterov" => optim.SGD(layer.parameters(), 0.05, momentum: 0.9, weight_decay: 1e-2, nesterov: true),
            _ => optim.AdamW(layer.parameters(), 0.01, weight_decay: 1e-2),
        };

        [TestMethod]
        [DataRow("sgd")]
        [DataRow("nesterov")]
        [DataRow("adamw")]
        public void OptimizerStepsEqualTorchSharpsBitForBit(string kind)
        {
            using var input = arange(5 * 16, dtype: ScalarType.Float32).reshape(5, 16).div(40);
            using var ours = Layer(16);
            using var theirs = Layer(16);
            using var ourOptimizer = Ours(kind, ours);
            using var theirOptimizer = TorchSharps(kind, theirs);
            using var before = ours.weight.detach().clone();
            for (int i = 0; i < 5; i++)
            {
                Step(ourOptimizer, ours, input);
                Step(theirOptimizer, theirs, input);
            }
            Assert.IsFalse(ours.weight.allclose(before, 0, 0), "the steps moved the weights");
            foreach (var (mine, reference) in ours.parameters().Zip(theirs.parameters()))
                Assert.IsTrue(mine.allclose(reference, 0, 0),
                    $"{kind}: the parameters differ from TorchSharp's after 5 steps");
        }

        // TorchSharp's own SGD failed here within 150 steps ("Unknown scalar type" from THSTensor_add).
        [TestMethod]
        [DataRow("nesterov")]
        [DataRow("adamw")]
        public void OptimizerStepsSurviveCollectionsDuringTheNativeCalls(string kind)
        {
            using var input = randn(8, 64);
            using var layer = Layer(64);
            using var optimizer = Ours(kind, layer);
            CollectingThread.Hammer(() => Step(optimizer, layer, input), TimeSpan.FromSeconds(3), atLeast: 300);
            Assert.IsTrue(layer.parameters().All(p => p.isfinite().all().item<bool>()));
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing.Tests.Training
{
    /// <summary>The fine-tuner runs a frozen prefix folded (<see cref="ResNet.Fold"/>): same numbers, untouched
    /// weights.</summary>
    [TestClass]
    public sealed class FoldedPrefixTrainingTests
    {
        [TestMethod]
        [DataRow(true, InferenceEngine.TorchSharp)]
        [DataRow(false, InferenceEngine.TorchSharp)]
        [DataRow(true, InferenceEngine.OnnxRuntime)]
        [DataRow(false, InferenceEngine.OnnxRuntime)]
        public void FrozenParametersAndStatisticsStayBitIdenticalThroughTheFoldedAndCachedPaths(bool cache,
            InferenceEngine engine)
        {
            using var model = new ResNet(TestData.TinyDefinition(), seed: 4);
            using var train = TestData.RandomImages(48, seed: 11);
            var before = TestData.Snapshot(model);
            var options = new FineTuneOptions
            {
                Epochs = 3, BatchSize = 16, LearningRate = 0.05, Freeze = FreezeMask.UpTo(ResNetStage.Layer3),
                Unfreezing = UnfreezeSchedule.Gradual(1, 1), UseActivationCache = cache, FrozenPrefixEngine = engine,
            };
            using (var tuner = new FineTuner(model, options))
                tuner.Fit(train);
            // Epoch 0 trains layer4 and the head, epoch 1 thaws layer3, epoch 2 layer2: stem and layer1 stay frozen,
            // and every epoch runs them folded (or reads their outputs from the cache).
            var after = model.state_dict();
            foreach (var (name, tensor) in before)
            {
                var stage = ResNetStages.OfParameter(name);
                if (stage <= ResNetStage.Layer1)
                    Assert.IsTrue(TestData.Same(tensor, after[name]), $"{name} ({stage.Name()}) changed");
            }
            Assert.IsFalse(TestData.Same(before["fc.weight"], after["fc.weight"]), "the head should train");
            TestData.Dispose(before);
        }

        [TestMethod]
        public void OnnxRuntimePrefixFillsTheCacheWithTheFoldsValuesAndTrainsLikeIt()
        {
            var losses = new Dictionary<InferenceEngine, List<double>>();
            var forwards = new Dictionary<InferenceEngine, IReadOnlyDictionary<ResNetStage, long>>();
            foreach (var engine in new[] { InferenceEngine.TorchSharp, InferenceEngine.OnnxRuntime })
            {
                using var model = new ResNet(TestData.TinyDefinition(), seed: 7);
                using var train = TestData.RandomImages(48, seed: 14);
                losses[engine] = new List<double>();
                var options = new FineTuneOptions
                {
                    Epochs = 3, BatchSize = 16, LearningRate = 0.05, Freeze = FreezeMask.AllButHead,
                    Unfreezing = UnfreezeSchedule.Gradual(1, 1), FrozenPrefixEngine = engine, Seed = 0,
                    BatchCallback = p => losses[engine].Add(p.Loss),
                };
                using var tuner = new FineTuner(model, options);
                tuner.Fit(train);
                // Epoch 0 runs stem..layer4 once and fills the cache at layer2, layer3 and layer4; later epochs read
                // it.
                forwards[engine] = tuner.StageForwardCounts.ToDictionary(p => p.Key, p => p.Value);
                Assert.IsTrue(tuner.History.Skip(1).All(r => r.CachedBoundary.HasValue), engine.ToString());
            }
            CollectionAssert.AreEquivalent(forwards[InferenceEngine.TorchSharp].ToArray(),
                forwards[InferenceEngine.OnnxRuntime].ToArray());
            var (fold, onnx) = (losses[InferenceEngine.TorchSharp], losses[InferenceEngine.OnnxRuntime]);
            Assert.HasCount(fold.Count, onnx);
            for (int i = 0; i < fold.Count; i++)
                Assert.AreEqual(fold[i], onnx[i], 1e-4 * Math.Max(1, Math.Abs(fold[i])), $"batch {i}");
        }

        [TestMethod]
        public void BFloat16PrefixKeepsFrozenWeightsBitIdenticalAndTrainsLikeFloat32()
        {
            var losses = new Dictionary<InferencePrecision, List<double>>();
            var logs = new List<string>();
            foreach (var precision in new[] { InferencePrecision.Float32, InferencePrecision.BFloat16 })
            {
                using var model = new ResNet(TestData.TinyDefinition(), seed: 5);
                using var train = TestData.RandomImages(48, seed: 13);
                var before = TestData.Snapshot(model);
                losses[precision] = new List<double>();
                var options = new FineTuneOptions
                {
                    Epochs = 2, BatchSize = 16, LearningRate = 0.05, Freeze = FreezeMask.UpTo(ResNetStage.Layer3),
                    Unfreezing = UnfreezeSchedule.Gradual(1, 1), FrozenPrefixPrecision = precision, Seed = 0,
                    BatchCallback = p => losses[precision].Add(p.Loss), Log = logs.Add,
                };
                using (var tuner = new FineTuner(model, options))
                    tuner.Fit(train);
                var after = model.state_dict();
                foreach (var (name, tensor) in before)
                {
                    if (ResNetStages.OfParameter(name) <= ResNetStage.Layer2)
                        Assert.IsTrue(TestData.Same(tensor, after[name]), $"{precision}: {name} changed");
                }
                Assert.IsFalse(TestData.Same(before["fc.weight"], after["fc.weight"]),
                    $"{precision}: the head should train");
                TestData.Dispose(before);
            }
            // Same batches, the prefix's outputs rounded to bfloat16: the losses follow float32's closely, but not
            // exactly.
            var (f32, bf16) = (losses[InferencePrecision.Float32], losses[InferencePrecision.BFloat16]);
            Assert.HasCount(f32.Count, bf16);
            for (int i = 0; i < f32.Count; i++)
                Assert.AreEqual(f32[i], bf16[i], 0.05 * Math.Max(1, Math.Abs(f32[i])), $"batch {i}");
            Assert.IsTrue(f32.Zip(bf16).Any(p => p.First != p.Second),
                "bfloat16 gave float32's losses exactly: was it used?");
            Assert.IsTrue(logs.Any(l => l.Contains("runs in bfloat16")), string.Join("\n", logs));
        }

        [TestMethod]
        [DataRow(InferenceEngine.TorchSharp)]
        [DataRow(InferenceEngine.OnnxRuntime)]
        public void FirstBatchLossThroughTheFrozenPrefixMatchesTheModules(InferenceEngine engine)
        {
            using var model = new ResNet(TestData.TinyDefinition(), seed: 6);
            using var train = TestData.RandomImages(32, seed: 12);
            // Non-trivial statistics in the frozen BatchNorms.
            using (no_grad())
            {
                foreach (var (_, bn, _) in model.BatchNorms())
                {
                    bn.running_mean.uniform_(-0.2, 0.2);
                    bn.running_var.uniform_(0.5, 2);
                    bn.weight.uniform_(0.5, 1.5);
                }
            }

            // What the modules give for the first batch, in eval mode (every BatchNorm is frozen: AllButHead).
            var order = ImageBatchSources.BatchIndices(train.Count, 16, new Random(0)).First();
            double expected;
            model.eval();
            using (no_grad())
            using (var batch = train.GetBatch(order))
            using (var logits = model.call(batch.Images))
            using (var loss = nn.functional.cross_entropy(logits, batch.Labels))
                expected = loss.item<float>();

            var losses = new List<double>();
            var logs = new List<string>();
            var options = new FineTuneOptions
            {
                Epochs = 1, BatchSize = 16, Freeze = FreezeMask.AllButHead, Seed = 0, UseActivationCache = false,
                BatchCallback = p => losses.Add(p.Loss), FrozenPrefixEngine = engine, Log = logs.Add,
            };
            using (var tuner = new FineTuner(model, options))
                tuner.Fit(train);
            Assert.AreEqual(expected, losses[0], 1e-4 * Math.Max(1, Math.Abs(expected)));
            Assert.AreEqual(engine == InferenceEngine.OnnxRuntime,
                logs.Any(l => l.Contains("runs on ONNX Runtime")), string.Join("\n", logs));
        }
    }
}

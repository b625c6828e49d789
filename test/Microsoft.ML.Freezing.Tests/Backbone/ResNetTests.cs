// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing.Tests.Backbone
{
    [TestClass]
    public sealed class ResNetTests
    {
        [TestMethod]
        public void ResNet18HasTorchvisionNamesAndParameterCount()
        {
            using var model = new ResNet(ResNetDefinition.ResNet18(1000), seed: 1);
            var names = model.state_dict().Keys.ToList();
            CollectionAssert.Contains(names, "conv1.weight");
            CollectionAssert.Contains(names, "bn1.running_var");
            CollectionAssert.Contains(names, "layer1.0.conv1.weight");
            CollectionAssert.Contains(names, "layer2.0.downsample.0.weight");
            CollectionAssert.Contains(names, "layer2.0.downsample.1.running_mean");
            CollectionAssert.Contains(names, "layer4.1.bn2.num_batches_tracked");
            CollectionAssert.Contains(names, "fc.bias");
            CollectionAssert.DoesNotContain(names, "layer1.0.downsample.0.weight");
            // torchvision.models.resnet18().parameters(): 11,689,512 and 62 parameter tensors.
            Assert.AreEqual(11_689_512L, model.parameters().Sum(p => p.numel()));
            Assert.AreEqual(62, model.parameters().Count());
        }

        [TestMethod]
        public void ResNet50MatchesTorchvisionParameterCountAndStridePlacement()
        {
            using var v15 = new ResNet(ResNetDefinition.ResNet50(1000), seed: 1);
            Assert.AreEqual(25_557_032L, v15.parameters().Sum(p => p.numel()));
            var v1Definition = new ResNetDefinition(ResNetBlockType.Bottleneck, new[] { 3, 4, 6, 3 }, 1000,
                ResNetVariant.V1, 1e-3, convBias: true);
            using var v1 = new ResNet(v1Definition, seed: 1);
            Assert.IsTrue(v1.state_dict().ContainsKey("layer3.0.conv2.bias"));

            // Where the stride sits shows in the output shape of the block's first 1x1 conv.
            using var input = randn(1, 256, 16, 16);
            using var onV15 = (
                (TorchSharp.Modules.Conv2d)v15.named_modules().First(m => m.name == "layer2.0.conv1").module)
                .call(input);
            using var onV1 = (
                (TorchSharp.Modules.Conv2d)v1.named_modules().First(m => m.name == "layer2.0.conv1").module)
                .call(input);
            CollectionAssert.AreEqual(new long[] { 1, 128, 16, 16 }, onV15.shape);
            CollectionAssert.AreEqual(new long[] { 1, 128, 8, 8 }, onV1.shape);
        }

        [TestMethod]
        public void MlNetResNet18DefinitionMatchesTheCheckedOnnxMapping()
        {
            // ML.NET's pretrained ResNet-18 is [2,2,2,3]; the fixture lists its tensors with torchvision names and
            // shapes.
            string mapping = RepoPaths.MLNetResNet18Mapping;
            Assert.IsTrue(File.Exists(mapping), $"Missing {mapping}.");
            var expected = File.ReadAllLines(mapping).Where(l => l.Length > 0).Select(l => l.Split('\t'))
                .ToDictionary(f => f[1],
                f => f[2].Trim('[', ']').Split(',').Select(s => long.Parse(s.Trim())).ToArray());
            using var model = new ResNet(new ResNetDefinition(ResNetBlockType.Basic, new[] { 2, 2, 2, 3 }, 0), seed: 1);
            var ours = model.state_dict().Where(kv => !kv.Key.EndsWith("num_batches_tracked", StringComparison.Ordinal))
                .ToDictionary(kv => kv.Key, kv => kv.Value.shape);
            CollectionAssert.AreEquivalent(expected.Keys.ToList(), ours.Keys.ToList());
            foreach (var (name, shape) in expected)
                CollectionAssert.AreEqual(shape, ours[name], name);
        }

        [TestMethod]
        public void StageByStageForwardEqualsTheWholeForward()
        {
            using var model = new ResNet(TestData.TinyDefinition(), seed: 3);
            model.eval();
            using var noGrad = no_grad();
            using var images = randn(2, 3, 32, 32);
            using var whole = model.call(images);
            using var prefix = model.Forward(images, ResNetStage.Stem, ResNetStage.Layer2);
            using var resumed = model.Forward(prefix, ResNetStage.Layer3, ResNetStage.Head);
            Assert.IsTrue(TestData.Same(whole, resumed));
            CollectionAssert.AreEqual(new long[] { 2, 3 }, whole.shape);
            using var features = model.Features(images);
            CollectionAssert.AreEqual(new long[] { 2, 512 }, features.shape);

            var table = model.StageTable(224);
            CollectionAssert.AreEqual(new long[] { 1, 64, 56, 56 }, table[0].OutputShape);
            CollectionAssert.AreEqual(new long[] { 1, 512, 7, 7 }, table[4].OutputShape);
        }

        [TestMethod]
        public void SameSeedGivesIdenticalInitDifferentSeedDoesNot()
        {
            using var a = new ResNet(TestData.TinyDefinition(), seed: 5);
            using var b = new ResNet(TestData.TinyDefinition(), seed: 5);
            using var c = new ResNet(TestData.TinyDefinition(), seed: 6);
            var sa = a.state_dict();
            var sb = b.state_dict();
            var sc = c.state_dict();
            Assert.IsTrue(sa.Keys.All(k => TestData.Same(sa[k], sb[k])));
            Assert.IsFalse(TestData.Same(sa["layer3.0.conv1.weight"], sc["layer3.0.conv1.weight"]));
        }
    }
}

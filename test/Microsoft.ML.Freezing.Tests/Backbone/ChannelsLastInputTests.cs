// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System.Collections.Generic;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing.Tests.Backbone
{
    /// <summary>
    /// The modules compute the same values and gradients whatever the layout of their input. The folded prefix writes
    /// channels-last activations; given those, oneDNN's brgemm 1x1 convolution with stride 2 computed layer4's
    /// downsample of a tiny network (256 to 512 channels, 2x2 pixels) with a relative error of 0.3 on an AMD EPYC VM
    /// with AVX-512 VP2INTERSECT, so training from the cache moved the trained stages elsewhere than training from the
    /// images did.
    /// </summary>
    [TestClass]
    [TestCategory(Categories.Numerical)]
    public sealed class ChannelsLastInputTests
    {
        private static Tensor ChannelsLast(Tensor x) => x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);

        private static (Tensor Logits, Dictionary<string, Tensor> Gradients) Run(ResNet model, Tensor layer1Input,
            Tensor outputGradient)
        {
            model.zero_grad();
            var logits = model.Forward(layer1Input, ResNetStage.Layer1, ResNetStage.Head);
            logits.backward(new[] { outputGradient });
            var gradients = model.named_parameters().Where(p => p.parameter.grad is not null)
                .ToDictionary(p => p.name, p => p.parameter.grad.clone());
            return (logits.detach(), gradients);
        }

        [TestMethod]
        public void ModulesGivenChannelsLastInputMatchNchwForwardAndBackward()
        {
            using var scope = NewDisposeScope();
            using var model = new ResNet(TestData.TinyDefinition(), seed: 2);
            model.train();
            using var images = TestData.RandomImages(8, size: 32);
            using var batch = images.GetBatch(Enumerable.Range(0, 8).ToArray());
            Tensor stem;
            using (no_grad())
                stem = model.ForwardStage(ResNetStage.Stem, batch.Images);
            var outputGradient = randn(8, 3, generator: new Generator(5));

            var nchw = Run(model, stem, outputGradient);
            var channelsLast = Run(model, ChannelsLast(stem), outputGradient);

            Assert.IsTrue(FoldedResNet.IsChannelsLast(ChannelsLast(stem)), "the test must feed channels-last input");
            Assert.IsTrue(ScoreComparison.RelativeDifference(nchw.Logits, channelsLast.Logits)
                <= ScoreComparison.Relative, "logits");
            Assert.AreEqual(nchw.Gradients.Count, channelsLast.Gradients.Count);
            foreach (var (name, gradient) in nchw.Gradients)
            {
                double difference = ScoreComparison.RelativeDifference(gradient, channelsLast.Gradients[name]);
                Assert.IsTrue(difference <= ScoreComparison.Relative, $"{name}'s gradient differs by {difference:G3}");
            }
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing.Tests.MLNet
{
    /// <summary>
    /// The reader of TorchSharp's saved state dicts that works without TorchSharp (<see cref="SavedStateDict"/>,
    /// <see cref="SavedWeights"/>): against TorchSharp's own <c>load</c> of the same bytes, the same names, types,
    /// shapes and bit-identical values; the ResNet layout it checks against is the module's; and the ONNX graph built
    /// from the saved weights is the one built from the module, byte for byte.
    /// </summary>
    [TestClass]
    public sealed class SavedWeightsTests
    {
        private static byte[] Save(nn.Module module)
        {
            using var stream = new MemoryStream();
            using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
                module.save(writer);
            return stream.ToArray();
        }

        /// <summary>Random running statistics and batch counts, so that every buffer holds something.</summary>
        private static void Perturb(nn.Module module, int seed)
        {
            var random = new Random(seed);
            using var noGrad = no_grad();
            foreach (var (name, buffer) in module.named_buffers())
            {
                if (buffer.dtype == ScalarType.Int64)
                    buffer.fill_(random.Next(1, 1000));
                else if (name.EndsWith("running_var", StringComparison.Ordinal))
                    buffer.uniform_(0.5, 2.0);
                else
                    buffer.normal_(0, 0.5);
            }
        }

        /// <summary>Parses <paramref name="bytes"/> and compares it with TorchSharp's load of them into
        /// <paramref name="target"/>, a module of the same structure holding other values.</summary>
        private static void AssertParsesAsTorchSharpLoads(byte[] bytes, nn.Module target)
        {
            var parsed = SavedStateDict.Parse(bytes);
            using (var reader = new BinaryReader(new MemoryStream(bytes)))
                target.load(reader, strict: true);
            var state = target.state_dict();
            CollectionAssert.AreEqual(state.Keys.ToArray(), parsed.Entries.Select(e => e.Name).ToArray(),
                "names, in the saved order");
            foreach (var entry in parsed.Entries)
            {
                var tensor = state[entry.Name];
                Assert.AreEqual(tensor.dtype, entry.Type, entry.Name);
                CollectionAssert.AreEqual(tensor.shape, entry.Shape, entry.Name);
                using var scope = NewDisposeScope();
                var cpu = tensor.detach().cpu().contiguous();
                CollectionAssert.AreEqual(cpu.bytes.ToArray(), parsed.Bytes(entry).ToArray(), entry.Name);
            }
        }

        [TestMethod]
        public void ASavedResNet18ParsesAsTorchSharpLoadsIt()
        {
            var definition = ResNetDefinition.ResNet18(numClasses: 7);
            using var saved = new ResNet(definition, seed: 1);
            Perturb(saved, seed: 2);
            using var target = new ResNet(definition, seed: 3);
            AssertParsesAsTorchSharpLoads(Save(saved), target);
        }

        [TestMethod]
        public void ATinyNetworkOfOtherTypesParsesAsTorchSharpLoadsIt()
        {
            // Not a ResNet: a linear layer, a 1-d BatchNorm (an int64 buffer), tensors of 0 to 3 dimensions.
            nn.Module Tiny(int seed)
            {
                torch.manual_seed(seed);
                return nn.Sequential(("lin", nn.Linear(3, 2)), ("bn", nn.BatchNorm1d(2)),
                    ("conv", nn.Conv1d(2, 1, 1, bias: false)));
            }
            using var saved = Tiny(5);
            Perturb(saved, seed: 6);
            using var target = Tiny(7);
            AssertParsesAsTorchSharpLoads(Save(saved), target);
        }

        [TestMethod]
        public void TheLayoutIsTheModulesStateDict()
        {
            foreach (var definition in new[]
            {
                ResNetDefinition.ResNet18(0), ResNetDefinition.ResNet34(3), ResNetDefinition.ResNet50(2),
                new ResNetDefinition(ResNetBlockType.Bottleneck, new[] { 1, 2, 1, 1 }, 4, ResNetVariant.V1, 1e-3,
                    convBias: true),
                new ResNetDefinition(ResNetBlockType.Basic, new[] { 2, 2, 2, 3 }, 0, convBias: true),
            })
            {
                using var network = new ResNet(definition, seed: null, initialize: false);
                var state = network.state_dict();
                var layout = SavedWeights.Layout(definition).ToDictionary(e => e.Name);
                CollectionAssert.AreEquivalent(state.Keys.ToArray(), layout.Keys.ToArray(), definition.ToString());
                foreach (var (name, tensor) in state)
                {
                    Assert.AreEqual(tensor.dtype, layout[name].Type, name);
                    CollectionAssert.AreEqual(tensor.shape, layout[name].Shape, name);
                }
            }
        }

        [TestMethod]
        public void WeightsOfAnotherNetworkOrMalformedBytesAreRefused()
        {
            var definition = new ResNetDefinition(ResNetBlockType.Basic, new[] { 1, 1, 1, 1 }, 2);
            byte[] other;
            using (var network = new ResNet(definition.WithClasses(3), seed: 0))
                other = Save(network);
            var shape = Assert.ThrowsExactly<InvalidDataException>(() => Read(other, definition));
            StringAssert.Contains(shape.Message, "Mismatched tensor shape while loading 'fc.");
            StringAssert.Contains(shape.Message, $"(the model's network is {definition})");

            byte[] bytes;
            using (var network = new ResNet(definition, seed: 0))
                bytes = Save(network);
            Assert.AreEqual(definition, Read(bytes, definition).Definition);
            using (var headless = new ResNet(definition.WithClasses(0), seed: 0))
                StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(
                    () => Read(Save(headless), definition)).Message, "Mismatched state_dict sizes");
            Assert.ThrowsExactly<EndOfStreamException>(() => Read(bytes[..(bytes.Length - 1)], definition));
            Assert.ThrowsExactly<EndOfStreamException>(() => Read(bytes[..(bytes.Length / 2)], definition));
            StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(
                () => Read(bytes.Concat(new byte[3]).ToArray(), definition)).Message, "3 bytes follow");
            Assert.ThrowsExactly<InvalidDataException>(() => Read(new byte[] { 0xff, 0xff, 0xff, 0x7f }, definition));
        }

        private static SavedWeights Read(byte[] bytes, ResNetDefinition definition)
        {
            using var reader = new BinaryReader(new MemoryStream(bytes));
            return SavedWeights.Read(reader, definition);
        }

        [TestMethod]
        public void TheOnnxGraphOfSavedWeightsIsTheModulesByteForByte()
        {
            foreach (var definition in new[]
            {
                ResNetDefinition.ResNet18(5),
                new ResNetDefinition(ResNetBlockType.Bottleneck, new[] { 1, 1, 2, 1 }, 0, convBias: true),
            })
            {
                using var network = new ResNet(definition, seed: 4);
                Perturb(network, seed: 8);
                var saved = Read(Save(network), definition);
                var preprocessing = ImagePreprocessing.ImageNet(32);
                var outputs = new List<OnnxExportOptions>
                {
                    new OnnxExportOptions { Output = OnnxExportOutput.Features, FeatureStage = ResNetStage.Layer2 },
                    new OnnxExportOptions { Output = OnnxExportOutput.Features, InputLayout = OnnxInputLayout.Nhwc },
                };
                if (definition.NumClasses > 0)
                    outputs.Add(new OnnxExportOptions { NormalizedInput = true });
                foreach (var options in outputs)
                {
                    byte[] fromModule = Google.Protobuf.MessageExtensions.ToByteArray(
                        OnnxExporter.CreateModel(network, preprocessing, options));
                    byte[] fromSaved = Google.Protobuf.MessageExtensions.ToByteArray(
                        OnnxExporter.CreateModel(saved, preprocessing, options));
                    CollectionAssert.AreEqual(fromModule, fromSaved, $"{definition}, {options.Output}");
                }
            }
        }

        [TestMethod]
        public void TheNetworkBuiltOfSavedWeightsHoldsThem()
        {
            var definition = new ResNetDefinition(ResNetBlockType.Basic, new[] { 1, 1, 1, 1 }, 3);
            using var network = new ResNet(definition, seed: 9);
            Perturb(network, seed: 10);
            var saved = Read(Save(network), definition);
            using var built = saved.Build(ComputeDevice.Cpu);
            Assert.IsFalse(built.training, "eval mode");
            var expected = network.state_dict();
            foreach (var (name, tensor) in built.state_dict())
                CollectionAssert.AreEqual(expected[name].bytes.ToArray(), tensor.bytes.ToArray(), name);
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing.Tests
{
    /// <summary>Small tensors and networks for engine tests.</summary>
    internal static class TestData
    {
        /// <summary>A tiny ResNet (one Basic block per stage) so that every test trains in seconds.</summary>
        public static ResNetDefinition TinyDefinition(int classes = 3)
            => new ResNetDefinition(ResNetBlockType.Basic, new[] { 1, 1, 1, 1 }, classes);

        /// <summary>Random images and random labels: enough signal to move every layer.</summary>
        public static TensorImageSource RandomImages(int count, int classes = 3, int size = 32, ulong seed = 7)
        {
            using var generator = new Generator(seed);
            using var images = rand(new long[] { count, 3, size, size }, generator: generator) * 2 - 1;
            using var labels = randint(classes, new long[] { count }, generator: generator);
            return new TensorImageSource(images, labels);
        }

        /// <summary>A detached copy of every parameter and buffer, by state-dict name.</summary>
        public static Dictionary<string, Tensor> Snapshot(nn.Module module)
            => module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone().DetachFromDisposeScope());

        public static void Dispose(Dictionary<string, Tensor> snapshot)
        {
            foreach (var t in snapshot.Values) t.Dispose();
        }

        public static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.equal(b).all().item<bool>();
    }
}

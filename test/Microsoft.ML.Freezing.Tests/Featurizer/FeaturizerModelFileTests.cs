// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;
using System.IO.Compression;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Freezing.Tests.MLNet;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests.Featurizer
{
    /// <summary>
    /// The featurizer's part of a model zip is read strictly: a damaged stream is an error that names it. Uses a small
    /// headless network (one Basic block per stage) from a TorchSharp weights file, so the zip is quick to rewrite.
    /// </summary>
    [TestClass]
    public sealed class FeaturizerModelFileTests
    {
        private static readonly MLContext Ml = new MLContext(seed: 1);
        private static string _dir;
        private static string _zip;
        private static float[][] _expected;
        private static IDataView _data;

        [ClassInitialize]
        public static void SaveOne(TestContext _)
        {
            _dir = Path.Combine(Path.GetTempPath(), "resnet-featurizer-files-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(_dir);
            var definition = new ResNetDefinition(ResNetBlockType.Basic, new[] { 1, 1, 1, 1 }, numClasses: 0);
            string weights = Path.Combine(_dir, "tiny.weights");
            using (var network = new ResNet(definition, seed: 5))
                network.save(weights);
            var source = PretrainedWeights.FromTorchSharpFile(weights, definition, ImagePreprocessing.ImageNet(32));
            _data = Ml.Data.LoadFromEnumerable(GeneratedImages.Stripes(4, seed: 15));
            using var featurizer = Ml.Transforms.ResNetFeatures("Features", "ImageSource", source, ResNetStage.Layer1)
                .Fit(_data);
            _expected = featurizer.Transform(_data).GetColumn<float[]>("Features").ToArray();
            Ml.Model.Save(featurizer, _data.Schema, _zip = Path.Combine(_dir, "featurizer.zip"));
        }

        [ClassCleanup]
        public static void Cleanup() => Directory.Delete(_dir, recursive: true);

        [TestMethod]
        public void IntactFeaturizerLoadsWithIdenticalFeatures()
        {
            var loaded = Ml.Model.Load(_zip, out _);
            try
            {
                var featurizer = (ResNetFeaturizerTransformer)loaded;
                Assert.AreEqual(ResNetStage.Layer1, featurizer.Stage);
                Assert.AreEqual(64, featurizer.FeatureDimension);
                var actual = loaded.Transform(_data).GetColumn<float[]>("Features").ToArray();
                for (int i = 0; i < _expected.Length; i++)
                    CollectionAssert.AreEqual(_expected[i], actual[i], $"row {i}");
            }
            finally
            {
                (loaded as IDisposable)?.Dispose();
            }
        }

        [TestMethod]
        public void DamagedStreamsAreNamed()
        {
            StringAssert.Contains(LoadError(Rewrite("Weights", _ => null)),
                "stream 'Weights' (network weights) is missing");
            StringAssert.Contains(LoadError(Rewrite("Weights", b => b.Take(b.Length / 2).ToArray())),
                "stream 'Weights' (network weights) is truncated or malformed");
            StringAssert.Contains(LoadError(Rewrite("Preprocessing", b => b.Take(7).ToArray())),
                "stream 'Preprocessing' (preprocessing) is truncated or malformed");

            // Weights of another network (one more layer4 block) do not load into the recorded one.
            byte[] other;
            using (var network = new ResNet(
                new ResNetDefinition(ResNetBlockType.Basic, new[] { 1, 1, 1, 2 }, numClasses: 0), seed: 1))
            using (var stream = new MemoryStream())
            {
                using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
                    network.save(writer);
                other = stream.ToArray();
            }
            StringAssert.Contains(LoadError(Rewrite("Weights", _ => other)), "stream 'Weights' (network weights)");
        }

        [TestMethod]
        public void AlteredStreamsFailTheirChecksumAndAreNamed()
        {
            string weights = LoadError(RewriteEach((name, bytes) => name.EndsWith("/Weights", StringComparison.Ordinal)
                ? FlipOneBit(bytes) : bytes));
            StringAssert.Contains(weights, "stream 'Weights' (network weights) is truncated or malformed");
            StringAssert.Contains(weights, "SHA-256 checksum does not match");

            string preprocessing = LoadError(RewriteEach((name, bytes) =>
                name.EndsWith("/Preprocessing", StringComparison.Ordinal) ? FlipOneBit(bytes) : bytes));
            StringAssert.Contains(preprocessing, "stream 'Preprocessing' (preprocessing) is truncated or malformed");
            StringAssert.Contains(preprocessing, "SHA-256 checksum does not match");

            // The output column's name changed in the main stream ("Features" -> "FeatureX"): another model.
            string main = LoadError(RewriteEach((name, bytes) =>
            {
                if (!ModelZips.IsModelKey(name, bytes, Signature)) return bytes;
                var altered = (byte[])bytes.Clone();
                int at = altered.AsSpan().IndexOf("Features"u8);
                Assert.IsGreaterThan(0, at);
                altered[at + 7] = (byte)'X';
                return altered;
            }));
            StringAssert.Contains(main, "ResNet featurizer model: the main stream (column names, stage, batch size, " +
                "device, network definition) is malformed: its SHA-256 checksum does not match");

            StringAssert.Contains(LoadError(Rewrite("Checksums", _ => null)),
                "stream 'Checksums' (checksums) is missing");
        }

        [TestMethod]
        public void FeaturizerInThePreviousFormatStillLoads()
        {
            // Format 0x00010001 had no Checksums stream; its main fields and other streams are those written now.
            var key = ModelZips.Entries(_zip).Single(e => ModelZips.IsModelKey(e.Name, e.Bytes, Signature)).Bytes;
            Assert.AreEqual(0x00010002u, ModelZips.WrittenVersion(key));
            string previous = RewriteEach((name, bytes) =>
                name.EndsWith("/Checksums", StringComparison.Ordinal) ? null
                : ModelZips.IsModelKey(name, bytes, Signature) ? ModelZips.WithVersions(bytes, 0x00010001, 0x00010001)
                : bytes);
            var loaded = Ml.Model.Load(previous, out _);
            try
            {
                var actual = loaded.Transform(_data).GetColumn<float[]>("Features").ToArray();
                for (int i = 0; i < _expected.Length; i++)
                    CollectionAssert.AreEqual(_expected[i], actual[i], $"row {i}");
            }
            finally
            {
                (loaded as IDisposable)?.Dispose();
            }
        }

        private const string Signature = "RNFEATZR";

        private static byte[] FlipOneBit(byte[] bytes)
        {
            var altered = (byte[])bytes.Clone();
            altered[altered.Length / 2] ^= 0x01;
            return altered;
        }

        private static string RewriteEach(Func<string, byte[], byte[]> change)
            => ModelZips.RewriteEach(_zip, _dir, change);

        private static string Rewrite(string name, Func<byte[], byte[]> change)
            => ModelZips.Rewrite(_zip, _dir, name, change);

        private static string LoadError(string zip) => ModelZips.LoadError(Ml, zip);
    }
}

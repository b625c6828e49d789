// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;
using System.Text;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// The self-describing weights file of the cache and of <see cref="PretrainedWeights.FromFile"/>.
    /// Binary format (version 1, mirrored in Write and Read): 8 bytes magic "FRZWGTS\0"; int version;
    /// <see cref="ResNetDefinition.Save"/>; <see cref="ImagePreprocessing.Save"/>; TorchSharp <c>module.save</c> of the
    /// network.
    /// </summary>
    internal static class WeightsFile
    {
        private static readonly byte[] Magic = Encoding.ASCII.GetBytes("FRZWGTS\0");
        private const int Version = 1;

        public static void Write(string path, ConvertedWeights weights)
        {
            using var network = new ResNet(weights.Definition, seed: 0);
            weights.LoadInto(network);
            using var stream = File.Create(path);
            using var writer = new BinaryWriter(stream);
            writer.Write(Magic);
            writer.Write(Version);
            weights.Definition.Save(writer);
            weights.Preprocessing.Save(writer);
            network.save(writer);
        }

        public static PretrainedWeights Read(string path, string description)
        {
            ResNetDefinition definition;
            ImagePreprocessing preprocessing;
            using (var stream = File.OpenRead(path))
            using (var reader = new BinaryReader(stream))
            {
                (definition, preprocessing) = ReadHeader(reader, path);
            }
            return PretrainedWeights.Create(description, definition, preprocessing, network =>
            {
                using var stream = File.OpenRead(path);
                using var reader = new BinaryReader(stream);
                ReadHeader(reader, path);
                try
                {
                    network.load(reader, strict: true);
                }
                catch (Exception ex) when (ex is ArgumentException || ex is EndOfStreamException || ex is IOException)
                {
                    throw new InvalidDataException(
                        $"Weights file '{path}' is truncated or does not fit {definition}: {ex.Message}", ex);
                }
            });
        }

        private static (ResNetDefinition, ImagePreprocessing) ReadHeader(BinaryReader reader, string path)
        {
            try
            {
                var magic = reader.ReadBytes(Magic.Length);
                if (!magic.AsSpan().SequenceEqual(Magic))
                    throw new InvalidDataException($"'{path}' is not a Microsoft.ML.Freezing weights file.");
                int version = reader.ReadInt32();
                if (version != Version)
                    throw new InvalidDataException(
                        $"Weights file '{path}' has version {version}; this library reads version {Version}.");
                return (ResNetDefinition.Load(reader), ImagePreprocessing.Load(reader));
            }
            catch (EndOfStreamException ex)
            {
                throw new InvalidDataException($"Weights file '{path}' is truncated.", ex);
            }
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Freezing
{
    public sealed partial class ResNetFeaturizerTransformer
    {
        private const uint FormatInitial = 0x00010001;
        private const uint FormatChecksums = 0x00010002;

        private static readonly ModelKind Kind = new ModelKind("ResNet featurizer model", "a featurizer model",
            nameof(ResNetFeaturizerTransformer));

        private static VersionInfo GetVersionInfo()
            => new VersionInfo(
                modelSignature: "RNFEATZR",
                //verWrittenCur: 0x00010001, // initial
                verWrittenCur: FormatChecksums, // SHA-256 of the main fields and of every stream
                // The main fields and streams are those of 0x00010001, so older versions still read it.
                verReadableCur: FormatInitial,
                verWeCanReadBack: FormatInitial,
                loaderSignature: LoaderSignature,
                // The simple name, so that a model saved by a newer version of the library loads in an older one.
                loaderAssemblyName: typeof(ResNetFeaturizerTransformer).Assembly.GetName().Name);

        private const string MainContents = "column names, stage, batch size, device, network definition";
        private const int MaxBatchSize = 1 << 16;

        /// <summary>
        /// Writes the featurizer into an ML.NET model context: column names, stage, batch size, device, network
        /// definition, preprocessing, weights, and checksums of every stream.
        /// </summary>
        /// <param name="ctx">The context ML.NET saves the model into.</param>
        public override void SaveModel(ModelSaveContext ctx)
        {
            Host.CheckValue(ctx, nameof(ctx));
            var writer = new ModelStreamWriter(ctx, GetVersionInfo());

            // *** Binary format *** (mirrored in Create)
            // string: input (image) column name
            // string: output (features) column name
            // int: stage (ResNetStage: 0 Stem .. 4 Layer4)
            // int: batch size (1..65536)
            // int: device (ComputeDevice: 0 Cpu, 1 Cuda)
            // ResNetDefinition.Save: int block type; 4 ints stage depths; int variant; double BatchNorm epsilon;
            //   bool conv bias; int 0 (no fc)
            // stream "Preprocessing": ImagePreprocessing.Save
            // stream "Weights": TorchSharp module.save of the headless network
            // stream "Checksums" (since 0x00010002): see ModelChecksums; the SHA-256 of the fields above ("main") and
            //   of every other stream, verified before any of them is parsed
            writer.WriteMain(w => WriteMain(w, new MainFields(InputColumnName, OutputColumnName, Stage, BatchSize,
                Device, Runner.Definition)));
            writer.WriteNetwork(Preprocessing, Network);
            writer.WriteChecksums();
        }

        private sealed record MainFields(string Input, string Output, ResNetStage Stage, int BatchSize,
            ComputeDevice Device, ResNetDefinition Definition);

        private static void WriteMain(BinaryWriter w, MainFields main)
        {
            w.Write(main.Input);
            w.Write(main.Output);
            w.Write((int)main.Stage);
            w.Write(main.BatchSize);
            w.Write((int)main.Device);
            main.Definition.Save(w);
        }

        private static MainFields ReadMain(ModelStreamReader reader)
        {
            string input = reader.Read(r => r.ReadString(), "the input column name");
            string output = reader.Read(r => r.ReadString(), "the output column name");
            var stage = (ResNetStage)reader.Read(r => r.ReadInt32(), "the stage");
            int batchSize = reader.Read(r => r.ReadInt32(), "the batch size");
            var device = (ComputeDevice)reader.Read(r => r.ReadInt32(), "the device");
            if (input.Length == 0 || output.Length == 0)
                throw reader.Malformed("a column name is empty.");
            if (stage < ResNetStage.Stem || stage > ResNetStage.Layer4)
                throw reader.Malformed($"the stage {(int)stage} is not one of stem, layer1..layer4.");
            if (batchSize < 1 || batchSize > MaxBatchSize)
                throw reader.Malformed($"the batch size {batchSize} is out of range.");
            if (!Enum.IsDefined(device))
                throw reader.Malformed($"the device {(int)device} is not one this version knows.");
            var definition = reader.ReadDefinition();
            if (definition.NumClasses != 0)
                throw reader.Malformed($"the network has a head with {definition.NumClasses} outputs; a featurizer's " +
                    "has none.");
            return new MainFields(input, output, stage, batchSize, device, definition);
        }

        // Called by ML.NET (SignatureLoadModel) through the LoadableClass attribute.
        private static ResNetFeaturizerTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
        {
            Contracts.CheckValue(env, nameof(env));
            env.CheckValue(ctx, nameof(ctx));
            var reader = new ModelStreamReader(ctx, Kind, GetVersionInfo());

            // *** Binary format *** (mirrors SaveModel)
            var main = ReadMain(reader);
            // Since 0x00010002 every part is checked against its SHA-256 before it is used (before the network is
            // built).
            if (reader.Format >= FormatChecksums)
                reader.VerifyMain(w => WriteMain(w, main), MainContents);

            return reader.LoadNetwork(env, main.Definition, main.Device, runner =>
                new ResNetFeaturizerTransformer(env, runner, main.Stage, main.Input, main.Output, main.BatchSize));
        }
    }
}

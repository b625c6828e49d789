using System;
using System.IO;
using Microsoft.ML.Runtime;
using TorchSharp;

namespace Microsoft.ML.Freezing
{
    public sealed partial class ResNetFeaturizerTransformer
    {
        // ML.NET's internal save/load plumbing (compiled against publicized references; see eng/Publicizer.targets).

        private static VersionInfo GetVersionInfo()
            => new VersionInfo(
                modelSignature: "RNFEATZR",
                verWrittenCur: 0x00010001, // initial
                verReadableCur: 0x00010001,
                verWeCanReadBack: 0x00010001,
                loaderSignature: LoaderSignature,
                // The simple name, so that a model saved by a newer version of the library loads in an older one.
                loaderAssemblyName: typeof(ResNetFeaturizerTransformer).Assembly.GetName().Name);

        private const string PreprocessingStream = "Preprocessing";
        private const string WeightsStream = "Weights";
        private const int MaxBatchSize = 1 << 16;

        public override void SaveModel(ModelSaveContext ctx)
        {
            Host.CheckValue(ctx, nameof(ctx));
            ctx.CheckAtModel();
            ctx.SetVersionInfo(GetVersionInfo());

            // *** Binary format *** (mirrored in Create)
            // string: input (image) column name
            // string: output (features) column name
            // int: stage (ResNetStage: 0 Stem .. 4 Layer4)
            // int: batch size (1..65536)
            // int: device (ComputeDevice: 0 Cpu, 1 Cuda)
            // ResNetDefinition.Save: int block type; 4 ints stage depths; int variant; double BatchNorm epsilon; bool conv bias; int 0 (no fc)
            // stream "Preprocessing": ImagePreprocessing.Save
            // stream "Weights": TorchSharp module.save of the headless network
            var w = ctx.Writer;
            w.Write(InputColumnName);
            w.Write(OutputColumnName);
            w.Write((int)Stage);
            w.Write(BatchSize);
            w.Write((int)Device);
            Network.Definition.Save(w);

            ctx.SaveBinaryStream(PreprocessingStream, s => Preprocessing.Save(s));
            ctx.SaveBinaryStream(WeightsStream, s => Network.save(s));
        }

        // Called by ML.NET (SignatureLoadModel) through the LoadableClass attribute.
        private static ResNetFeaturizerTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
        {
            Contracts.CheckValue(env, nameof(env));
            env.CheckValue(ctx, nameof(ctx));
            ctx.CheckAtModel(GetVersionInfo());

            // *** Binary format *** (mirrors SaveModel)
            // string: input (image) column name
            // string: output (features) column name
            // int: stage (ResNetStage: 0 Stem .. 4 Layer4)
            // int: batch size (1..65536)
            // int: device (ComputeDevice: 0 Cpu, 1 Cuda)
            // ResNetDefinition.Save: int block type; 4 ints stage depths; int variant; double BatchNorm epsilon; bool conv bias; int 0 (no fc)
            // stream "Preprocessing": ImagePreprocessing.Save
            // stream "Weights": TorchSharp module.save of the headless network
            var r = ctx.Reader;
            string input = Read(() => r.ReadString(), "the input column name");
            string output = Read(() => r.ReadString(), "the output column name");
            var stage = (ResNetStage)Read(() => r.ReadInt32(), "the stage");
            int batchSize = Read(() => r.ReadInt32(), "the batch size");
            var device = (ComputeDevice)Read(() => r.ReadInt32(), "the device");
            if (input.Length == 0 || output.Length == 0)
                throw Contracts.ExceptDecode("ResNet featurizer model: a column name is empty.");
            if (stage < ResNetStage.Stem || stage > ResNetStage.Layer4)
                throw Contracts.ExceptDecode($"ResNet featurizer model: the stage {(int)stage} is not one of stem, layer1..layer4.");
            if (batchSize < 1 || batchSize > MaxBatchSize)
                throw Contracts.ExceptDecode($"ResNet featurizer model: the batch size {batchSize} is out of range.");
            if (!Enum.IsDefined(device))
                throw Contracts.ExceptDecode($"ResNet featurizer model: the device {(int)device} is not one this version knows.");
            ResNetDefinition definition;
            try
            {
                definition = ResNetDefinition.Load(r);
            }
            catch (InvalidDataException ex)
            {
                throw Contracts.ExceptDecode($"ResNet featurizer model: {ex.Message}");
            }
            if (definition.NumClasses != 0)
                throw Contracts.ExceptDecode($"ResNet featurizer model: the network has a head with {definition.NumClasses} outputs; a featurizer's has none.");

            ImagePreprocessing preprocessing = null;
            LoadStream(ctx, PreprocessingStream, "preprocessing", s => preprocessing = ImagePreprocessing.Load(s));

            var network = new ResNet(definition, seed: 0);
            try
            {
                LoadStream(ctx, WeightsStream, "network weights", s => network.load(s, strict: true));
                if (device == ComputeDevice.Cuda && !TorchSharp.torch.cuda.is_available())
                {
                    env.Register(nameof(ResNetFeaturizerTransformer)).Start("Load").Warning("The featurizer was saved for CUDA, which is not available here; running on the CPU.");
                    device = ComputeDevice.Cpu;
                }
                if (device == ComputeDevice.Cuda)
                    network.to(TorchSharp.torch.CUDA);
                return new ResNetFeaturizerTransformer(env, network, preprocessing, stage, input, output, batchSize, device);
            }
            catch
            {
                network.Dispose();
                throw;
            }
        }

        /// <summary>Reads a value of the main stream; a short stream names what was being read.</summary>
        private static T Read<T>(Func<T> read, string what)
        {
            try
            {
                return read();
            }
            catch (EndOfStreamException)
            {
                throw Contracts.ExceptDecode($"ResNet featurizer model: the main stream ends before {what} (truncated or not a featurizer model).");
            }
        }

        /// <summary>Loads a named binary stream; a missing, truncated or malformed stream gives an error naming it.</summary>
        private static void LoadStream(ModelLoadContext ctx, string name, string part, Action<BinaryReader> load)
        {
            bool found;
            try
            {
                found = ctx.TryLoadBinaryStream(name, load);
            }
            catch (Exception ex) when (ex is EndOfStreamException || ex is InvalidDataException || ex is IOException
                || ex is ArgumentException || ex is FormatException || ex is OverflowException)
            {
                throw Contracts.ExceptDecode($"ResNet featurizer model: stream '{name}' ({part}) is truncated or malformed: {ex.Message}");
            }
            if (!found)
                throw Contracts.ExceptDecode($"ResNet featurizer model: stream '{name}' ({part}) is missing from the model.");
        }
    }
}

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Runtime;
using TorchSharp;

namespace Microsoft.ML.Freezing
{
    public sealed partial class FrozenResNetTransformer
    {
        // This file and MLNet/Internal are the only places that use ML.NET's internal save/load plumbing
        // (compiled against publicized references; see eng/Publicizer.targets).

        private const uint FormatInitial = 0x00010001;
        private const uint FormatChecksums = 0x00010002;

        private static VersionInfo GetVersionInfo()
            => new VersionInfo(
                modelSignature: "FRZRESNT",
                //verWrittenCur: 0x00010001, // initial
                verWrittenCur: FormatChecksums, // SHA-256 of the main fields and of every stream; skipped invalid images per epoch
                verReadableCur: FormatChecksums,
                verWeCanReadBack: FormatInitial,
                loaderSignature: LoaderSignature,
                // The simple name, so that a model saved by a newer version of the library loads in an older one.
                loaderAssemblyName: typeof(FrozenResNetTransformer).Assembly.GetName().Name);

        private const string PreprocessingStream = "Preprocessing";
        private const string WeightsStream = "Weights";
        private const string OptimizerStream = "OptimizerState";
        private const string HistoryStream = "History";
        private const string ChecksumsStream = "Checksums";

        public override void SaveModel(ModelSaveContext ctx)
        {
            Host.CheckValue(ctx, nameof(ctx));
            ctx.CheckAtModel();
            string nonFinite = Divergence.FirstNonFinite(Model.Network);
            if (nonFinite != null)
                throw Host.Except($"The FrozenResNet model cannot be saved: {nonFinite} holds non-finite values (NaN or infinity). A model that diverged is never written.");
            ctx.SetVersionInfo(GetVersionInfo());

            // *** Binary format *** (mirrored in Create)
            // string: feature column name
            // string: score column name
            // string: predicted label column name
            // int: number of classes K; K strings: class names in key order
            // ResNetDefinition.Save: int block type; 4 ints stage depths; int variant; double BatchNorm epsilon; bool conv bias; int K
            // int: device
            // int: optimizer of the stored optimizer state, or -1 when none is stored
            // stream "Preprocessing": ImagePreprocessing.Save
            // stream "Weights": TorchSharp module.save of the network
            // stream "OptimizerState" (when stored): TorchSharp save_state_dict
            // stream "History": int count; per epoch: see ModelFormat.WriteRecord (0x00010002 adds the skipped invalid images)
            // stream "Checksums" (since 0x00010002): see ModelChecksums; the SHA-256 of the fields above ("main") and of
            //   every other stream, verified before any of them is parsed
            var checksums = new ModelChecksums();
            var main = ModelFormat.Serialize(w => WriteMain(w, FeatureColumnName, ScoreColumnName, PredictedLabelColumnName,
                Model.ClassNames, Model.Definition, Model.Device, State == null ? -1 : (int)State.Optimizer));
            checksums.Add(ModelChecksums.Main, main);
            ctx.Writer.Write(main);

            SaveStream(ctx, checksums, PreprocessingStream, s => Model.Preprocessing.Save(s));
            SaveStream(ctx, checksums, WeightsStream, s => Model.Network.save(s));
            if (State != null)
                SaveStream(ctx, checksums, OptimizerStream, s => s.Write(State.OptimizerState));
            SaveStream(ctx, checksums, HistoryStream, s =>
            {
                s.Write(History.Count);
                foreach (var record in History)
                    ModelFormat.WriteRecord(s, record);
            });
            ctx.SaveBinaryStream(ChecksumsStream, checksums.Write);
        }

        private static void WriteMain(BinaryWriter w, string feature, string score, string predicted, IReadOnlyList<string> classNames,
            ResNetDefinition definition, ComputeDevice device, int optimizer)
        {
            w.Write(feature);
            w.Write(score);
            w.Write(predicted);
            w.Write(classNames.Count);
            foreach (var name in classNames)
                w.Write(name);
            definition.Save(w);
            w.Write((int)device);
            w.Write(optimizer);
        }

        private static void SaveStream(ModelSaveContext ctx, ModelChecksums checksums, string name, Action<BinaryWriter> write)
        {
            var bytes = ModelFormat.Serialize(write);
            checksums.Add(name, bytes);
            ctx.SaveBinaryStream(name, w => w.Write(bytes));
        }

        // Called by ML.NET (SignatureLoadModel) through the LoadableClass attribute.
        private static FrozenResNetTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
        {
            Contracts.CheckValue(env, nameof(env));
            env.CheckValue(ctx, nameof(ctx));
            ctx.CheckAtModel();
            uint format = ModelFormat.CheckVersion(ctx, GetVersionInfo(), typeof(FrozenResNetTransformer).Assembly.GetName().Version);

            // *** Binary format *** (mirrors SaveModel)
            var r = ctx.Reader;
            string feature = ModelFormat.Read(() => r.ReadString(), "the feature column name");
            string score = ModelFormat.Read(() => r.ReadString(), "the score column name");
            string predicted = ModelFormat.Read(() => r.ReadString(), "the predicted label column name");
            int k = ModelFormat.Read(() => r.ReadInt32(), "the class count");
            if (k < 2 || k > 1_000_000)
                throw Contracts.ExceptDecode($"FrozenResNet model: the class count {k} is out of range.");
            var classNames = new string[k];
            for (int i = 0; i < k; i++)
                classNames[i] = ModelFormat.Read(() => r.ReadString(), $"class name {i}");
            ResNetDefinition definition;
            try
            {
                definition = ResNetDefinition.Load(r);
            }
            catch (InvalidDataException ex)
            {
                throw Contracts.ExceptDecode($"FrozenResNet model: {ex.Message}");
            }
            if (definition.NumClasses != k)
                throw Contracts.ExceptDecode($"FrozenResNet model: the network has {definition.NumClasses} outputs for {k} classes.");
            var device = (ComputeDevice)ModelFormat.Read(() => r.ReadInt32(), "the device");
            int optimizer = ModelFormat.Read(() => r.ReadInt32(), "the optimizer kind");
            if (!Enum.IsDefined(device) || (optimizer != -1 && !Enum.IsDefined((OptimizerKind)optimizer)))
                throw Contracts.ExceptDecode("FrozenResNet model: the device or optimizer kind is not one this version knows.");

            // Since 0x00010002 every part is checked against its SHA-256 before it is used (before the network is built).
            ModelChecksums checksums = null;
            if (format >= FormatChecksums)
            {
                ModelFormat.LoadStream(ctx, ChecksumsStream, "checksums", null, s => checksums = ModelChecksums.Read(s));
                string mismatch = checksums.Mismatch(ModelChecksums.Main,
                    ModelFormat.Serialize(w => WriteMain(w, feature, score, predicted, classNames, definition, device, optimizer)));
                if (mismatch != null)
                    throw Contracts.ExceptDecode($"FrozenResNet model: the main stream (column names, classes, network definition) is malformed: {mismatch}.");
            }

            ImagePreprocessing preprocessing = null;
            ModelFormat.LoadStream(ctx, PreprocessingStream, "preprocessing", checksums, s => preprocessing = ImagePreprocessing.Load(s));

            var network = new ResNet(definition, seed: 0);
            try
            {
                ModelFormat.LoadStream(ctx, WeightsStream, "network weights", checksums, s =>
                {
                    try
                    {
                        network.load(s, strict: true);
                    }
                    catch (ArgumentException ex)
                    {
                        // TorchSharp names no parameter: say which network the weights had to fit.
                        throw new InvalidDataException($"{ex.Message.TrimEnd('.')} (the model's network is {definition}).", ex);
                    }
                });
                if (device == ComputeDevice.Cuda && !TorchSharp.torch.cuda.is_available())
                {
                    env.Register(nameof(FrozenResNetTransformer)).Start("Load").Warning("The model was saved for CUDA, which is not available here; scoring on the CPU.");
                    device = ComputeDevice.Cpu;
                }
                if (device == ComputeDevice.Cuda)
                    network.to(TorchSharp.torch.CUDA);

                TrainingState state = null;
                if (optimizer != -1)
                {
                    byte[] bytes = null;
                    ModelFormat.LoadStream(ctx, OptimizerStream, "optimizer state", checksums, s => bytes = s.ReadBytes(checked((int)(s.BaseStream.Length - s.BaseStream.Position))));
                    state = new TrainingState((OptimizerKind)optimizer, bytes);
                }

                var history = new List<FrozenResNetEpoch>();
                ModelFormat.LoadStream(ctx, HistoryStream, "training history", checksums, s =>
                {
                    int count = s.ReadInt32();
                    if (count < 0 || count > 1_000_000) throw new InvalidDataException($"{count} epochs");
                    for (int i = 0; i < count; i++)
                        history.Add(ModelFormat.ReadRecord(s, withSkippedImages: format >= FormatChecksums));
                });

                var model = new FrozenResNetModel(network, classNames, preprocessing, device);
                return new FrozenResNetTransformer(env, model, feature, score, predicted, history, state);
            }
            catch
            {
                network.Dispose();
                throw;
            }
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Freezing
{
    public sealed partial class FrozenResNetTransformer
    {
        private const uint FormatInitial = 0x00010001;
        private const uint FormatChecksums = 0x00010002;
        private const uint FormatDecisions = 0x00010003;

        private static readonly ModelKind Kind = new ModelKind("FrozenResNet model", "a FrozenResNet model",
            nameof(FrozenResNetTransformer));

        private static VersionInfo GetVersionInfo()
            => new VersionInfo(
                modelSignature: "FRZRESNT",
                //verWrittenCur: 0x00010001, // initial
                //verWrittenCur: 0x00010002, // SHA-256 of the main fields and of every stream; skipped invalid images
                // The decisions of each epoch (thaw and stop reasons, restored epochs) in a stream of their own, which
                // 0x00010002 readers ignore: they still read the model.
                verWrittenCur: FormatDecisions,
                verReadableCur: FormatChecksums,
                verWeCanReadBack: FormatInitial,
                loaderSignature: LoaderSignature,
                // The simple name, so that a model saved by a newer version of the library loads in an older one.
                loaderAssemblyName: typeof(FrozenResNetTransformer).Assembly.GetName().Name);

        private const string OptimizerStream = "OptimizerState";
        private const string HistoryStream = "History";
        private const string DecisionsStream = "Decisions";
        private const string MainContents = "column names, classes, network definition";

        /// <summary>
        /// Writes the model into an ML.NET model context: column names, classes, network definition, preprocessing,
        /// weights, the optimizer state when kept, the training history, and checksums of every stream. A network
        /// with non-finite weights (a run that diverged) is refused.
        /// </summary>
        /// <param name="ctx">The context ML.NET saves the model into.</param>
        public override void SaveModel(ModelSaveContext ctx)
        {
            Host.CheckValue(ctx, nameof(ctx));
            string nonFinite = Divergence.FirstNonFinite(Model.Network);
            if (nonFinite != null)
                throw Host.Except($"The FrozenResNet model cannot be saved: {nonFinite} holds non-finite values " +
                    "(NaN or infinity). A model that diverged is never written.");
            var writer = new ModelStreamWriter(ctx, GetVersionInfo());

            // *** Binary format *** (mirrored in Create)
            // string: feature column name
            // string: score column name
            // string: predicted label column name
            // int: number of classes K; K strings: class names in key order
            // ResNetDefinition.Save: int block type; 4 ints stage depths; int variant; double BatchNorm epsilon;
            //   bool conv bias; int K
            // int: device
            // int: optimizer of the stored optimizer state, or -1 when none is stored
            // stream "Preprocessing": ImagePreprocessing.Save
            // stream "Weights": TorchSharp module.save of the network
            // stream "OptimizerState" (when stored): TorchSharp save_state_dict
            // stream "History": see HistoryFormat (0x00010002 adds the skipped invalid images)
            // stream "Decisions" (since 0x00010003): see HistoryFormat.WriteDecisions
            // stream "Checksums" (since 0x00010002): see ModelChecksums; the SHA-256 of the fields above ("main") and
            //   of every other stream, verified before any of them is parsed
            writer.WriteMain(w => WriteMain(w, new MainFields(FeatureColumnName, ScoreColumnName,
                PredictedLabelColumnName, Model.ClassNames, Model.Definition, Model.Device,
                State == null ? -1 : (int)State.Optimizer)));
            writer.WriteNetwork(Model.Preprocessing, Model.Network);
            if (State != null)
                writer.WriteStream(OptimizerStream, s => s.Write(State.OptimizerState));
            writer.WriteStream(HistoryStream, s => HistoryFormat.Write(s, History));
            writer.WriteStream(DecisionsStream, s => HistoryFormat.WriteDecisions(s, History));
            writer.WriteChecksums();
        }

        private sealed record MainFields(string Feature, string Score, string Predicted,
            IReadOnlyList<string> ClassNames, ResNetDefinition Definition, ComputeDevice Device, int Optimizer);

        private static void WriteMain(BinaryWriter w, MainFields main)
        {
            w.Write(main.Feature);
            w.Write(main.Score);
            w.Write(main.Predicted);
            w.Write(main.ClassNames.Count);
            foreach (var name in main.ClassNames)
                w.Write(name);
            main.Definition.Save(w);
            w.Write((int)main.Device);
            w.Write(main.Optimizer);
        }

        private static MainFields ReadMain(ModelStreamReader reader)
        {
            string feature = reader.Read(r => r.ReadString(), "the feature column name");
            string score = reader.Read(r => r.ReadString(), "the score column name");
            string predicted = reader.Read(r => r.ReadString(), "the predicted label column name");
            int k = reader.Read(r => r.ReadInt32(), "the class count");
            if (k < 2 || k > 1_000_000)
                throw reader.Malformed($"the class count {k} is out of range.");
            var classNames = new string[k];
            for (int i = 0; i < k; i++)
                classNames[i] = reader.Read(r => r.ReadString(), $"class name {i}");
            var definition = reader.ReadDefinition();
            if (definition.NumClasses != k)
                throw reader.Malformed($"the network has {definition.NumClasses} outputs for {k} classes.");
            var device = (ComputeDevice)reader.Read(r => r.ReadInt32(), "the device");
            int optimizer = reader.Read(r => r.ReadInt32(), "the optimizer kind");
            if (!Enum.IsDefined(device) || (optimizer != -1 && !Enum.IsDefined((OptimizerKind)optimizer)))
                throw reader.Malformed("the device or optimizer kind is not one this version knows.");
            return new MainFields(feature, score, predicted, classNames, definition, device, optimizer);
        }

        // Called by ML.NET (SignatureLoadModel) through the LoadableClass attribute.
        private static FrozenResNetTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
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
            {
                var state = main.Optimizer == -1 ? null : LoadState(reader, (OptimizerKind)main.Optimizer);
                List<HistoryFormat.Decision> decisions = null;
                if (reader.Format >= FormatDecisions)
                    reader.Load(DecisionsStream, "training decisions", s => decisions = HistoryFormat.ReadDecisions(s));
                List<FrozenResNetEpoch> history = null;
                reader.Load(HistoryStream, "training history",
                    s => history = HistoryFormat.Read(s, withSkippedImages: reader.Format >= FormatChecksums,
                        decisions));
                var model = new FrozenResNetModel(runner, main.ClassNames);
                return new FrozenResNetTransformer(env, model, main.Feature, main.Score, main.Predicted, history,
                    state);
            });
        }

        private static TrainingState LoadState(ModelStreamReader reader, OptimizerKind optimizer)
        {
            byte[] bytes = null;
            reader.Load(OptimizerStream, "optimizer state",
                s => bytes = s.ReadBytes(checked((int)(s.BaseStream.Length - s.BaseStream.Position))));
            return new TrainingState(optimizer, bytes);
        }
    }
}

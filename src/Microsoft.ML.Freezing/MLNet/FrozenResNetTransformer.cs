// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Freezing;
using Microsoft.ML.Runtime;

[assembly: LoadableClass(typeof(FrozenResNetTransformer), null, typeof(SignatureLoadModel),
    "FrozenResNet Transformer", FrozenResNetTransformer.LoaderSignature)]

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// A fitted FrozenResNet: scores an image column into <c>Score</c> (class probabilities, slot names = class names)
    /// and a key-typed <c>PredictedLabel</c>. <see cref="ResNetTransformerBase.Transform(IDataView)"/> scores in
    /// batches; <c>PredictionEngine</c> scores row by row. Saves into an ML.NET zip with its weights, definition, class
    /// names, preprocessing, optimizer state and history.
    /// </summary>
    public sealed partial class FrozenResNetTransformer : ResNetTransformerBase
    {
        internal const string LoaderSignature = "FrozenResNetTransformer";
        internal const int ScoringBatchSize = 32;

        internal FrozenResNetTransformer(IHostEnvironment env, FrozenResNetModel model, string featureColumnName,
            string scoreColumnName, string predictedLabelColumnName, IReadOnlyList<FrozenResNetEpoch> history,
            TrainingState trainingState)
            : base(Contracts.CheckRef(env, nameof(env)).Register(nameof(FrozenResNetTransformer)), model.Runner,
                featureColumnName, "feature")
        {
            Model = model;
            FeatureColumnName = featureColumnName;
            ScoreColumnName = scoreColumnName;
            PredictedLabelColumnName = predictedLabelColumnName;
            History = history?.ToList() ?? new List<FrozenResNetEpoch>();
            State = trainingState;
        }

        /// <summary>The network, class names and preprocessing.</summary>
        public FrozenResNetModel Model { get; }
        /// <summary>One record per training epoch (empty for a model that was never trained here).</summary>
        public IReadOnlyList<FrozenResNetEpoch> History { get; }
        /// <summary>The image column read.</summary>
        public string FeatureColumnName { get; }
        /// <summary>The probabilities column written.</summary>
        public string ScoreColumnName { get; }
        /// <summary>The predicted key column written.</summary>
        public string PredictedLabelColumnName { get; }

        /// <summary>Optimizer state at the end of training, for <c>Fit(data, previousModel)</c>.</summary>
        internal TrainingState State { get; }

        // Transform scores in batches of ScoringBatchSize images.
        private protected override IDataView MakeBatchedView(IDataView input, IDataView rowByRow)
            => new BatchScoringDataView(Host, this, input, rowByRow);

        /// <summary>
        /// The row-to-row mapper (one image at a time, as a <c>PredictionEngine</c> scores) that adds Score and
        /// PredictedLabel to <paramref name="schema"/>.
        /// </summary>
        /// <param name="schema">The input schema; it must hold the image column.</param>
        public override IRowMapper MakeRowMapper(DataViewSchema schema) => new Mapper(this, schema);

        /// <summary>The output columns for an input schema: Score and PredictedLabel with ML.NET's scorer
        /// annotations.</summary>
        internal DataViewSchema.DetachedColumn[] OutputColumns(DataViewSchema inputSchema)
        {
            int k = Model.ClassNames.Count;
            var classNames = new VBuffer<ReadOnlyMemory<char>>(k, Model.ClassNames.Select(n => n.AsMemory()).ToArray());
            uint setId = checked(inputSchema.GetMaxAnnotationKind(out _, AnnotationUtils.Kinds.ScoreColumnSetId) + 1);

            var score = new DataViewSchema.Annotations.Builder();
            score.AddSlotNames(k, (ref VBuffer<ReadOnlyMemory<char>> value) => classNames.CopyTo(ref value));
            AddScorerAnnotations(score, AnnotationUtils.Const.ScoreValueKind.Score, setId);

            var predicted = new DataViewSchema.Annotations.Builder();
            predicted.AddKeyValues(k, TextDataViewType.Instance,
                (ref VBuffer<ReadOnlyMemory<char>> value) => classNames.CopyTo(ref value));
            AddScorerAnnotations(predicted, AnnotationUtils.Const.ScoreValueKind.PredictedLabel, setId);

            return new[]
            {
                new DataViewSchema.DetachedColumn(ScoreColumnName, new VectorDataViewType(NumberDataViewType.Single, k),
                    score.ToAnnotations()),
                new DataViewSchema.DetachedColumn(PredictedLabelColumnName, new KeyDataViewType(typeof(uint), k),
                    predicted.ToAnnotations()),
            };
        }

        private static void AddScorerAnnotations(DataViewSchema.Annotations.Builder builder, string valueKind,
            uint setId)
        {
            builder.Add(AnnotationUtils.Kinds.ScoreColumnKind, TextDataViewType.Instance,
                (ref ReadOnlyMemory<char> value)
                    => value = AnnotationUtils.Const.ScoreColumnKind.MulticlassClassification.AsMemory());
            builder.Add(AnnotationUtils.Kinds.ScoreValueKind, TextDataViewType.Instance,
                (ref ReadOnlyMemory<char> value) => value = valueKind.AsMemory());
            builder.Add(AnnotationUtils.Kinds.ScoreColumnSetId, AnnotationUtils.ScoreColumnSetIdType,
                (ref uint value) => value = setId);
        }

        /// <summary>Optimizer state kept with a model for continued training.</summary>
        internal sealed class TrainingState
        {
            public TrainingState(OptimizerKind optimizer, byte[] optimizerState)
            {
                Optimizer = optimizer;
                OptimizerState = optimizerState;
            }

            public OptimizerKind Optimizer { get; }
            public byte[] OptimizerState { get; }
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Freezing;
using Microsoft.ML.Runtime;
using static TorchSharp.torch;

[assembly: LoadableClass(typeof(ResNetFeaturizerTransformer), null, typeof(SignatureLoadModel),
    "ResNet Featurizer Transformer", ResNetFeaturizerTransformer.LoaderSignature)]

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// A fitted ResNet featurizer: writes, for each image, the global-average-pooled activations after
    /// <see cref="Stage"/> as a float vector of <see cref="FeatureDimension"/> values.
    /// <see cref="ResNetTransformerBase.Transform(IDataView)"/> runs the network on batches of
    /// <see cref="BatchSize"/> images; a <c>PredictionEngine</c> runs it row by row. Saves into an ML.NET zip with its
    /// weights, definition and preprocessing; <see cref="ExportOnnx"/> writes an ONNX graph of the same features.
    /// </summary>
    public sealed partial class ResNetFeaturizerTransformer : ResNetTransformerBase
    {
        internal const string LoaderSignature = "ResNetFeaturizer";

        internal ResNetFeaturizerTransformer(IHostEnvironment env, ResNet network, ImagePreprocessing preprocessing,
            ResNetStage stage, string inputColumnName, string outputColumnName, int batchSize, ComputeDevice device)
            : this(env, new ImageBatchRunner(network, preprocessing, device), stage, inputColumnName, outputColumnName,
                batchSize)
        {
        }

        /// <summary>A featurizer of <paramref name="runner"/>'s network (a loaded model's: built when first
        /// needed).</summary>
        internal ResNetFeaturizerTransformer(IHostEnvironment env, ImageBatchRunner runner, ResNetStage stage,
            string inputColumnName, string outputColumnName, int batchSize)
            : base(Contracts.CheckRef(env, nameof(env)).Register(nameof(ResNetFeaturizerTransformer)), runner,
                inputColumnName, "image")
        {
            Stage = stage;
            InputColumnName = inputColumnName;
            OutputColumnName = outputColumnName;
            BatchSize = batchSize;
            FeatureDimension = OnnxExporter.FeatureDimension(runner.Definition, stage);
        }

        /// <summary>The image column read (encoded bytes or <c>MLImage</c>).</summary>
        public string InputColumnName { get; }
        /// <summary>The float vector column written.</summary>
        public string OutputColumnName { get; }
        /// <summary>The stage after which the activations are pooled; later stages are not run.</summary>
        public ResNetStage Stage { get; }
        /// <summary>Length of the output vector (the stage's channel count).</summary>
        public int FeatureDimension { get; }
        /// <summary>Images per forward pass in <see cref="ResNetTransformerBase.Transform(IDataView)"/>.</summary>
        public int BatchSize { get; }

        // Transform featurizes in batches of BatchSize images.
        private protected override IDataView MakeBatchedView(IDataView input, IDataView rowByRow)
            => new ResNetFeaturizerDataView(Host, this, input, rowByRow);

        /// <summary>
        /// The features of preprocessed images (RGB bytes, <c>ImageSize</c> x <c>ImageSize</c> x 3, as
        /// <see cref="ImagePreprocessing.DecodeAndResize"/> produces), one array per image, computed as one batch by
        /// <see cref="ResNetTransformerBase.Engine"/>.
        /// </summary>
        public float[][] GetFeatures(IReadOnlyList<byte[]> rgbImages)
            => (rgbImages is null ? null : Runner.TryRunOnnx(rgbImages, OnnxExportOutput.Features, Stage))
                ?? Forward(rgbImages, images => nn.functional.adaptive_avg_pool2d(
                Network.Forward(images, ResNetStage.Stem, Stage), 1));

        /// <summary>
        /// The row-to-row mapper (one image at a time, as a <c>PredictionEngine</c> featurizes) that adds the feature
        /// column to <paramref name="schema"/>.
        /// </summary>
        /// <param name="schema">The input schema; it must hold the image column.</param>
        public override IRowMapper MakeRowMapper(DataViewSchema schema) => new Mapper(this, schema);

        /// <summary>The output column: a float vector of <see cref="FeatureDimension"/>.</summary>
        internal DataViewSchema.DetachedColumn OutputColumn()
            => new DataViewSchema.DetachedColumn(OutputColumnName,
                new VectorDataViewType(NumberDataViewType.Single, FeatureDimension));

        /// <summary>Row-by-row featurizing (PredictionEngine, and any consumer of the row-to-row mapper).</summary>
        private sealed class Mapper : MapperBase
        {
            private readonly ResNetFeaturizerTransformer _parent;
            private readonly int _inputIndex;

            public Mapper(ResNetFeaturizerTransformer parent, DataViewSchema inputSchema)
                : base(parent.Host.Register(nameof(Mapper)), inputSchema, parent)
            {
                _parent = parent;
                _inputIndex = parent.ImageColumnIndex(inputSchema);
            }

            protected override DataViewSchema.DetachedColumn[] GetOutputColumnsCore()
                => new[] { _parent.OutputColumn() };

            protected override Delegate MakeGetter(DataViewRow input, int iinfo, Func<int, bool> activeOutput,
                out Action disposer)
            {
                disposer = null;
                var read = ImageColumn.MakeReader(input, input.Schema[_inputIndex], _parent.Preprocessing,
                    reuse: true); // scored before the next row is read
                long cachedPosition = -1;
                float[] features = null;
                return (ValueGetter<VBuffer<float>>)((ref VBuffer<float> value) =>
                {
                    if (cachedPosition != input.Position)
                    {
                        features = _parent.GetFeatures(new[] { read() })[0];
                        cachedPosition = input.Position;
                    }
                    WriteVector(features, ref value);
                });
            }

            public override Func<int, bool> GetDependenciesCore(Func<int, bool> activeOutput)
                => column => column == _inputIndex && activeOutput(0);

            public override void SaveModel(ModelSaveContext ctx) => _parent.SaveModel(ctx);
        }
    }
}

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
    /// A fitted ResNet featurizer: writes, for each image, the global-average-pooled activations after <see cref="Stage"/>
    /// as a float vector of <see cref="FeatureDimension"/> values. <see cref="Transform"/> runs the network on batches of
    /// <see cref="BatchSize"/> images; a <c>PredictionEngine</c> runs it row by row. Saves into an ML.NET zip with its
    /// weights, definition and preprocessing; <see cref="ExportOnnx"/> writes an ONNX graph of the same features.
    /// </summary>
    public sealed partial class ResNetFeaturizerTransformer : RowToRowTransformerBase, ITransformer, IDisposable
    {
        internal const string LoaderSignature = "ResNetFeaturizer";

        private readonly object _lock = new object();

        internal ResNetFeaturizerTransformer(IHostEnvironment env, ResNet network, ImagePreprocessing preprocessing, ResNetStage stage,
            string inputColumnName, string outputColumnName, int batchSize, ComputeDevice device)
            : base(Contracts.CheckRef(env, nameof(env)).Register(nameof(ResNetFeaturizerTransformer)))
        {
            Network = network;
            Preprocessing = preprocessing;
            Stage = stage;
            InputColumnName = inputColumnName;
            OutputColumnName = outputColumnName;
            BatchSize = batchSize;
            Device = device;
            FeatureDimension = OnnxExporter.FeatureDimension(network.Definition, stage);
            Network.eval();
        }

        /// <summary>The image column read (encoded bytes or <c>MLImage</c>).</summary>
        public string InputColumnName { get; }
        /// <summary>The float vector column written.</summary>
        public string OutputColumnName { get; }
        /// <summary>The stage after which the activations are pooled.</summary>
        public ResNetStage Stage { get; }
        /// <summary>Length of the output vector (the stage's channel count).</summary>
        public int FeatureDimension { get; }
        /// <summary>The preprocessing contract applied to every image (from the source of the weights).</summary>
        public ImagePreprocessing Preprocessing { get; }
        /// <summary>The headless network (eval mode); stages after <see cref="Stage"/> are kept but not run.</summary>
        public ResNet Network { get; }
        /// <summary>Images per forward pass in <see cref="Transform"/>.</summary>
        public int BatchSize { get; }
        /// <summary>Where the network runs.</summary>
        public ComputeDevice Device { get; }

        /// <summary>Featurizes <paramref name="input"/> lazily, in batches of <see cref="BatchSize"/> images.</summary>
        public new IDataView Transform(IDataView input)
        {
            Host.CheckValue(input, nameof(input));
            return new ResNetFeaturizerDataView(Host, this, input, base.Transform(input));
        }

        /// <summary>
        /// The features of preprocessed images (RGB bytes, <c>ImageSize</c> x <c>ImageSize</c> x 3, as
        /// <see cref="ImagePreprocessing.DecodeAndResize"/> produces), one array per image, computed as one batch.
        /// </summary>
        public float[][] GetFeatures(IReadOnlyList<byte[]> rgbImages)
        {
            Host.CheckValue(rgbImages, nameof(rgbImages));
            if (rgbImages.Count == 0)
                return Array.Empty<float[]>();
            int side = Preprocessing.ImageSize, size = side * side * 3;
            var flat = new byte[rgbImages.Count * size];
            for (int i = 0; i < rgbImages.Count; i++)
            {
                Host.Check(rgbImages[i]?.Length == size, $"Image {i} has {rgbImages[i]?.Length ?? 0} bytes; {side}x{side} RGB needs {size}.");
                Buffer.BlockCopy(rgbImages[i], 0, flat, i * size, size);
            }

            float[] values;
            // One forward pass at a time: PredictionEngines on several threads share this module.
            lock (_lock)
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                var bytes = tensor(flat, new long[] { rgbImages.Count, side, side, 3 });
                var images = Preprocessing.Normalize(bytes).to(Device == ComputeDevice.Cuda ? CUDA : CPU);
                var activations = Network.Forward(images, ResNetStage.Stem, Stage);
                values = nn.functional.adaptive_avg_pool2d(activations, 1).flatten(1).cpu().data<float>().ToArray();
            }
            var result = new float[rgbImages.Count][];
            for (int i = 0; i < result.Length; i++)
                result[i] = values.AsSpan(i * FeatureDimension, FeatureDimension).ToArray();
            return result;
        }

        /// <summary>Releases the network.</summary>
        public void Dispose() => Network.Dispose();

        public override IRowMapper MakeRowMapper(DataViewSchema schema) => new Mapper(this, schema);

        /// <summary>The output column: a float vector of <see cref="FeatureDimension"/>.</summary>
        internal DataViewSchema.DetachedColumn OutputColumn()
            => new DataViewSchema.DetachedColumn(OutputColumnName, new VectorDataViewType(NumberDataViewType.Single, FeatureDimension));

        /// <summary>Index of the image column, with a clear error when it is absent or of another type.</summary>
        internal int InputColumnIndex(DataViewSchema schema)
        {
            var column = schema.GetColumnOrNull(InputColumnName)
                ?? throw Host.ExceptSchemaMismatch(nameof(schema), "image", InputColumnName);
            if (!ImageColumn.IsSupported(column.Type))
                throw Host.Except(ImageColumn.Unsupported(InputColumnName, column.Type));
            return column.Index;
        }

        internal static void WriteFeatures(float[] features, ref VBuffer<float> value)
        {
            var editor = VBufferEditor.Create(ref value, features.Length);
            features.AsSpan().CopyTo(editor.Values);
            value = editor.Commit();
        }

        /// <summary>Row-by-row featurizing (PredictionEngine, and any consumer of the row-to-row mapper).</summary>
        private sealed class Mapper : MapperBase
        {
            private readonly ResNetFeaturizerTransformer _parent;
            private readonly int _inputIndex;

            public Mapper(ResNetFeaturizerTransformer parent, DataViewSchema inputSchema)
                : base(parent.Host.Register(nameof(Mapper)), inputSchema, parent)
            {
                _parent = parent;
                _inputIndex = parent.InputColumnIndex(inputSchema);
            }

            protected override DataViewSchema.DetachedColumn[] GetOutputColumnsCore() => new[] { _parent.OutputColumn() };

            protected override Delegate MakeGetter(DataViewRow input, int iinfo, Func<int, bool> activeOutput, out Action disposer)
            {
                disposer = null;
                var read = ImageColumn.MakeReader(input, input.Schema[_inputIndex], _parent.Preprocessing);
                long cachedPosition = -1;
                float[] features = null;
                return (ValueGetter<VBuffer<float>>)((ref VBuffer<float> value) =>
                {
                    if (cachedPosition != input.Position)
                    {
                        features = _parent.GetFeatures(new[] { read() })[0];
                        cachedPosition = input.Position;
                    }
                    WriteFeatures(features, ref value);
                });
            }

            public override Func<int, bool> GetDependenciesCore(Func<int, bool> activeOutput)
                => column => column == _inputIndex && activeOutput(0);

            public override void SaveModel(ModelSaveContext ctx) => _parent.SaveModel(ctx);
        }
    }
}

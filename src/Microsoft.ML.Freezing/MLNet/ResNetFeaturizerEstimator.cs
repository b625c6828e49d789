// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.Transforms.Image;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Turns an image column into a float vector: the global-average-pooled activations after one stage of a pretrained
    /// (<see cref="PretrainedWeights"/>) or fine-tuned (<see cref="FrozenResNetTransformer"/>) ResNet, with the
    /// source's recorded preprocessing. Nothing is learned: <see cref="Fit"/> builds the
    /// <see cref="ResNetFeaturizerTransformer"/>. The role ML.NET's <c>DnnImageFeaturizer</c> plays, with our
    /// backbones, a selectable stage, and batched scoring. Create it with
    /// <c>mlContext.Transforms.ResNetFeatures(...)</c>.
    /// </summary>
    public sealed class ResNetFeaturizerEstimator : IEstimator<ResNetFeaturizerTransformer>
    {
        /// <summary>
        /// Settings of the featurizer. At most one of <see cref="Weights"/> and <see cref="Model"/>; with neither,
        /// ML.NET's pretrained ResNet-18.
        /// </summary>
        public sealed class Options
        {
            /// <summary>The float vector column written. Default "Features".</summary>
            public string OutputColumnName { get; set; } = "Features";
            /// <summary>
            /// The image column read: encoded bytes (<c>byte[]</c>, <c>LoadRawImageBytes</c>) or <c>MLImage</c>
            /// (<c>LoadImages</c>). Default null: the same as <see cref="OutputColumnName"/> (the column is replaced).
            /// </summary>
            public string InputColumnName { get; set; }
            /// <summary>
            /// Pretrained weights; they define the network and the preprocessing. Default null: ML.NET's ResNet-18
            /// (<see cref="PretrainedWeights.MLNetResNet18"/>) unless <see cref="Model"/> is set.
            /// </summary>
            public PretrainedWeights Weights { get; set; }
            /// <summary>
            /// A fitted FrozenResNet model whose fine-tuned backbone (without its head) and preprocessing are used; it
            /// is copied at <see cref="Fit"/>, so it may be disposed afterwards. Default null.
            /// </summary>
            public FrozenResNetTransformer Model { get; set; }
            /// <summary>The stage whose output is pooled: <see cref="ResNetStage.Stem"/> to
            /// <see cref="ResNetStage.Layer4"/>. Default Layer4.</summary>
            public ResNetStage Stage { get; set; } = ResNetStage.Layer4;
            /// <summary>Square input side in pixels. Default null: the source's (224 for pretrained weights, the
            /// trained size for a model).</summary>
            public int? ImageSize { get; set; }
            /// <summary>Images per forward pass in <c>Transform</c>. Default 32.</summary>
            public int BatchSize { get; set; } = 32;
            /// <summary>Where the network runs. Default Cpu (Cuda needs a CUDA build of libtorch; untested).</summary>
            public ComputeDevice Device { get; set; } = ComputeDevice.Cpu;
        }

        private readonly IHost _host;
        private readonly Options _options;

        internal ResNetFeaturizerEstimator(IHostEnvironment env, Options options)
        {
            Contracts.CheckValue(env, nameof(env));
            _host = env.Register(nameof(ResNetFeaturizerEstimator));
            _host.CheckValue(options, nameof(options));
            _host.CheckNonEmpty(options.OutputColumnName, nameof(options.OutputColumnName));
            _host.CheckUserArg(options.InputColumnName is null || options.InputColumnName.Length > 0,
                nameof(options.InputColumnName), "must not be empty");
            _host.CheckUserArg(options.Weights is null || options.Model is null, nameof(options.Weights),
                "give one source of weights: PretrainedWeights (Weights) or a fitted FrozenResNetTransformer (Model)");
            _host.CheckUserArg(options.Weights is null || !options.Weights.IsNone, nameof(options.Weights),
                "PretrainedWeights.None define no network to take features from; leave Weights null for ML.NET's "
                + "ResNet-18");
            _host.CheckUserArg(options.Stage >= ResNetStage.Stem && options.Stage <= ResNetStage.Layer4,
                nameof(options.Stage),
                "features are pooled after one of stem, layer1..layer4 (for the head's outputs use the FrozenResNet " +
                "model itself)");
            _host.CheckUserArg(options.ImageSize is null
                || (options.ImageSize >= 32 && options.ImageSize <= ImagePreprocessing.MaxImageSize),
                nameof(options.ImageSize), $"must be between 32 and {ImagePreprocessing.MaxImageSize} pixels");
            _host.CheckUserArg(options.BatchSize >= 1, nameof(options.BatchSize), "must be positive");
            _host.CheckUserArg(Enum.IsDefined(options.Device), nameof(options.Device), "unknown device");
            _options = new Options
            {
                OutputColumnName = options.OutputColumnName,
                InputColumnName = options.InputColumnName ?? options.OutputColumnName,
                // Resolved here, so that FeatureDimension and a missing model file show up before Fit.
                Weights = options.Model is null ? TrainingDefaults.Weights(options.Weights, architecture: null) : null,
                Model = options.Model,
                Stage = options.Stage,
                ImageSize = options.ImageSize,
                BatchSize = options.BatchSize,
                Device = options.Device,
            };
        }

        private ResNetDefinition SourceDefinition => _options.Weights?.Definition ?? _options.Model.Model.Definition;

        /// <summary>Length of the output vector: the channel count of the chosen stage (64 to 2048).</summary>
        public int FeatureDimension => OnnxExporter.FeatureDimension(SourceDefinition, _options.Stage);

        /// <summary>Builds the featurizer: copies the backbone of the source (its head is dropped) and checks the image
        /// column.</summary>
        public ResNetFeaturizerTransformer Fit(IDataView input)
        {
            _host.CheckValue(input, nameof(input));
            ImageColumn.Index(_host, input.Schema, _options.InputColumnName, "image", nameof(input));
            if (_options.Device == ComputeDevice.Cuda && !cuda.is_available())
                throw _host.Except(LibTorchSettings.NoCudaDevice);

            var preprocessing = _options.Weights?.Preprocessing ?? _options.Model.Model.Preprocessing;
            if (_options.ImageSize.HasValue)
                preprocessing = preprocessing.WithImageSize(_options.ImageSize.Value);
            var network = _options.Weights != null ? FromWeights(_options.Weights)
                : Backbone(_options.Model.Model.Network);
            try
            {
                if (_options.Device == ComputeDevice.Cuda)
                    network.to(CUDA);
                return new ResNetFeaturizerTransformer(_host, network, preprocessing, _options.Stage,
                    _options.InputColumnName,
                    _options.OutputColumnName, _options.BatchSize, _options.Device);
            }
            catch
            {
                network.Dispose();
                throw;
            }
        }

        /// <summary>Adds the output column: a known-size float vector.</summary>
        public SchemaShape GetOutputSchema(SchemaShape inputSchema)
        {
            _host.CheckValue(inputSchema, nameof(inputSchema));
            ImageColumn.Check(_host, inputSchema, _options.InputColumnName, "image");
            var columns = inputSchema.ToDictionary(c => c.Name);
            columns[_options.OutputColumnName] = new SchemaShape.Column(_options.OutputColumnName,
                SchemaShape.Column.VectorKind.Vector,
                NumberDataViewType.Single, false);
            return new SchemaShape(columns.Values);
        }

        private static ResNet FromWeights(PretrainedWeights weights)
            // A headless network: with keepHead the weights load as they are; otherwise their fc is left out.
            => weights.CreateNetwork(0, seed: 0, keepHead: weights.Definition.NumClasses == 0);

        /// <summary>A headless copy of a (fine-tuned) network on the CPU.</summary>
        private static ResNet Backbone(ResNet source)
        {
            var copy = new ResNet(source.Definition.WithClasses(0), seed: 0);
            // Strict over the copy's names; the source's head (fc.*) has no place in a headless network.
            var (missing, _) = copy.load_state_dict(source.state_dict(), strict: false);
            if (missing.Count > 0)
                throw new InvalidOperationException($"The network lacks {string.Join(", ", missing)}.");
            return copy;
        }
    }
}

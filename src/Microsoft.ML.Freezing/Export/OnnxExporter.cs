// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using Onnx;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Writes a <see cref="ResNet"/> and its <see cref="ImagePreprocessing"/> as an ONNX model (built with OnnxSharp's
    /// <c>ModelProto</c> classes) that ONNX Runtime, ML.NET's <c>ApplyOnnxModel</c> and other ONNX consumers run
    /// without TorchSharp.
    /// </summary>
    /// <remarks>
    /// <para>
    /// The graph (opset <see cref="OpsetVersion"/>, IR version <see cref="IrVersion"/>):
    /// input float32 [batch, 3, S, S] (or [batch, S, S, 3], see <see cref="OnnxExportOptions.InputLayout"/>) holding
    /// RGB values in 0-255, S = <see cref="ImagePreprocessing.ImageSize"/>;
    /// then <c>Transpose</c> (NHWC only), <c>Gather</c> of channels 2,1,0 (BGR networks only), <c>Mul</c> and
    /// <c>Add</c> of per-channel constants (<c>Scale / Std[c]</c> and <c>-Mean[c] / Std[c]</c>, the arithmetic of
    /// <see cref="ImagePreprocessing.Normalize"/>); the network as <c>Conv</c>, <c>BatchNormalization</c> (inference
    /// form, running statistics), <c>Relu</c>, <c>MaxPool</c> and <c>Add</c>; <c>GlobalAveragePool</c> and
    /// <c>Flatten</c>; then
    /// <c>Gemm</c> (fc) and <c>Softmax</c>, or only the pooled features of a stage. The batch dimension is symbolic
    /// (<see cref="BatchDimension"/>), so any batch size runs. Initializers carry the state-dict names
    /// (<c>layer1.0.conv1.weight</c>, ...).
    /// </para>
    /// <para>
    /// Left to the caller: decoding the image, turning it upright by its EXIF orientation, dropping alpha, resizing or
    /// centre-cropping it to S x S with the recorded interpolation (<see cref="ImagePreprocessing.DecodeAndResize"/>
    /// does all of that; in ML.NET, <c>LoadImages</c>, <c>ResizeImages</c> and <c>ExtractPixels</c>), and handing the
    /// pixels over as RGB floats in 0-255 in the chosen layout.
    /// </para>
    /// <para>The metadata holds <c>preprocessing</c> (the contract as text), <c>input_layout</c> and, when given,
    /// <c>class_names</c>.</para>
    /// </remarks>
    public static class OnnxExporter
    {
        /// <summary>The ONNX operator set the graph uses (default domain). Every operator in it exists since opset
        /// 13.</summary>
        public const int OpsetVersion = 17;

        /// <summary>The ONNX IR version written (8, the one released with opset 17).</summary>
        public const long IrVersion = 8;

        /// <summary>The name of the symbolic batch dimension of the input and output.</summary>
        public const string BatchDimension = "batch";

        /// <summary>
        /// Exports <paramref name="network"/> with <paramref name="preprocessing"/> to an ONNX file at
        /// <paramref name="path"/> (overwritten). The network is read, not changed; BatchNorm layers use their running
        /// statistics, as in eval mode.
        /// </summary>
        /// <param name="network">The network; its weights may live on any device.</param>
        /// <param name="preprocessing">The preprocessing whose channel order and normalisation go into the
        /// graph.</param>
        /// <param name="path">The <c>.onnx</c> file to write.</param>
        /// <param name="options">Names, input layout and output; null takes the defaults of
        /// <see cref="OnnxExportOptions"/>.</param>
        /// <exception cref="ArgumentException">Invalid options, or class outputs asked of a network without
        /// <c>fc</c>.</exception>
        public static void Export(ResNet network, ImagePreprocessing preprocessing, string path,
            OnnxExportOptions options = null)
        {
            if (network is null) throw new ArgumentNullException(nameof(network));
            ExportWeights(new NetworkWeights(network), preprocessing, path, options);
        }

        /// <summary><see cref="Export(ResNet, ImagePreprocessing, string, OnnxExportOptions)"/> of weights from any
        /// source (a saved model's, read without TorchSharp).</summary>
        internal static void ExportWeights(INamedWeights weights, ImagePreprocessing preprocessing, string path,
            OnnxExportOptions options)
        {
            if (string.IsNullOrEmpty(path))
                throw new ArgumentException("The ONNX file path must not be empty.", nameof(path));
            var model = CreateModel(weights, preprocessing, options);
            string folder = Path.GetDirectoryName(Path.GetFullPath(path));
            if (!string.IsNullOrEmpty(folder))
                Directory.CreateDirectory(folder);
            using var stream = File.Create(path);
            Google.Protobuf.MessageExtensions.WriteTo(model, stream);
        }

        /// <summary>
        /// Builds the ONNX model that <see cref="Export"/> writes, as OnnxSharp's <see cref="ModelProto"/>, for callers
        /// that want to inspect it or write it elsewhere.
        /// </summary>
        public static ModelProto CreateModel(ResNet network, ImagePreprocessing preprocessing,
            OnnxExportOptions options = null)
        {
            if (network is null) throw new ArgumentNullException(nameof(network));
            return CreateModel(new NetworkWeights(network), preprocessing, options);
        }

        /// <summary>
        /// <see cref="CreateModel(ResNet, ImagePreprocessing, OnnxExportOptions)"/> of weights from any source: a live
        /// network's, or a saved model's read without TorchSharp (the same graph, byte for byte, for the same weights).
        /// </summary>
        internal static ModelProto CreateModel(INamedWeights weights, ImagePreprocessing preprocessing,
            OnnxExportOptions options)
        {
            if (weights is null) throw new ArgumentNullException(nameof(weights));
            if (preprocessing is null) throw new ArgumentNullException(nameof(preprocessing));
            options = (options ?? new OnnxExportOptions()).Clone();
            options.Check();
            var definition = weights.Definition;
            if (options.Output != OnnxExportOutput.Features && definition.NumClasses == 0)
                throw new ArgumentException(
                    $"The network has no fc layer ({definition}), so it has no class " +
                    $"{options.Output.ToString().ToLowerInvariant()}; export OnnxExportOutput.Features instead.",
                    nameof(options));
            if (options.ClassNames != null && options.Output != OnnxExportOutput.Features
                && options.ClassNames.Length != definition.NumClasses)
                throw new ArgumentException(
                    $"{options.ClassNames.Length} class names for {definition.NumClasses} outputs.", nameof(options));

            var builder = new OnnxGraphBuilder(weights);
            int side = preprocessing.ImageSize;
            var inputShape = options.InputLayout == OnnxInputLayout.Nchw ? new long[] { -1, 3, side, side }
                : new long[] { -1, side, side, 3 };
            builder.AddInput(options.InputName, inputShape);

            string x = options.InputName;
            if (options.InputLayout == OnnxInputLayout.Nhwc)
                x = builder.Transpose(x, "to_nchw", 0, 3, 1, 2);
            if (!options.NormalizedInput)
                x = builder.Normalize(x, preprocessing);

            var last = options.Output == OnnxExportOutput.Features ? options.FeatureStage : ResNetStage.Layer4;
            x = builder.Stem(x);
            for (var stage = ResNetStage.Layer1; stage <= last; stage++)
                x = builder.Layer(x, stage);
            x = builder.Pool(x);

            long outputWidth;
            if (options.Output == OnnxExportOutput.Features)
            {
                outputWidth = FeatureDimension(definition, options.FeatureStage);
                builder.Rename(x, options.OutputName);
            }
            else
            {
                outputWidth = definition.NumClasses;
                x = builder.Gemm(x, "fc");
                if (options.Output == OnnxExportOutput.Probabilities)
                    x = builder.Softmax(x);
                builder.Rename(x, options.OutputName);
            }
            builder.AddOutput(options.OutputName, new long[] { -1, outputWidth });

            var graph = builder.Graph;
            graph.Name = options.Output == OnnxExportOutput.Features ? $"resnet_features_{options.FeatureStage.Name()}"
                : "resnet_classifier";
            var model = Wrap(graph, options.Description ?? Describe(definition, preprocessing, options));
            model.MetadataProps.Add(
                new StringStringEntryProto { Key = "preprocessing", Value = preprocessing.ToString() });
            model.MetadataProps.Add(
                new StringStringEntryProto { Key = "input_layout",
                Value = options.InputLayout.ToString().ToUpperInvariant() });
            model.MetadataProps.Add(new StringStringEntryProto { Key = "network", Value = definition.ToString() });
            if (options.ClassNames != null)
                model.MetadataProps.Add(
                    new StringStringEntryProto { Key = "class_names",
                    Value = JsonSerializer.Serialize(options.ClassNames) });
            return model;
        }

        /// <summary>A model holding <paramref name="graph"/>, at this exporter's IR and opset versions.</summary>
        internal static ModelProto Wrap(GraphProto graph, string description)
        {
            var model = new ModelProto
            {
                IrVersion = IrVersion,
                ProducerName = "Microsoft.ML.Freezing",
                ProducerVersion = typeof(OnnxExporter).Assembly.GetName().Version?.ToString() ?? "",
                Graph = graph,
                DocString = description,
            };
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = OpsetVersion });
            return model;
        }

        /// <summary>
        /// Width of the pooled features after <paramref name="stage"/> (stem to layer4): 64 after the stem, then
        /// 64/128/256/512 times the block expansion (1 for Basic, 4 for Bottleneck blocks).
        /// </summary>
        public static int FeatureDimension(ResNetDefinition definition, ResNetStage stage)
        {
            if (definition is null) throw new ArgumentNullException(nameof(definition));
            return stage switch
            {
                ResNetStage.Stem => 64,
                ResNetStage.Layer1 => 64 * definition.Expansion,
                ResNetStage.Layer2 => 128 * definition.Expansion,
                ResNetStage.Layer3 => 256 * definition.Expansion,
                ResNetStage.Layer4 => 512 * definition.Expansion,
                _ => throw new ArgumentOutOfRangeException(nameof(stage), stage,
                    "Features are pooled after one of stem, layer1..layer4."),
            };
        }

        private static string Describe(ResNetDefinition definition, ImagePreprocessing preprocessing,
            OnnxExportOptions options)
        {
            string layout = options.InputLayout == OnnxInputLayout.Nchw ? "[batch, 3, S, S]" : "[batch, S, S, 3]";
            string output = options.Output switch
            {
                OnnxExportOutput.Probabilities => $"class probabilities [batch, {definition.NumClasses}]",
                OnnxExportOutput.Logits => $"class logits [batch, {definition.NumClasses}]",
                _ => $"global-average-pooled {options.FeatureStage.Name()} features [batch, " +
                    $"{FeatureDimension(definition, options.FeatureStage)}]",
            };
            return $"ResNet ({definition}) exported by Microsoft.ML.Freezing. Input '{options.InputName}': float32 RGB "
                + "values 0-255, "
                + $"{layout}, S = {preprocessing.ImageSize}, already decoded, EXIF-oriented and resized "
                + $"({preprocessing.Resize}, "
                + $"{preprocessing.Interpolation}). The graph applies the channel order and normalisation of: "
                + $"{preprocessing}. "
                + $"Output '{options.OutputName}': {output}.";
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;

namespace Microsoft.ML.Freezing
{
    /// <summary>The memory layout of the exported graph's pixel input.</summary>
    public enum OnnxInputLayout
    {
        /// <summary>[N, 3, H, W], one plane per channel: ML.NET's <c>ExtractPixels</c> default
        /// (<c>interleavePixelColors: false</c>).</summary>
        Nchw = 0,
        /// <summary>[N, H, W, 3], interleaved: decoded bitmaps, ML.NET's <c>ExtractPixels(interleavePixelColors:
        /// true)</c>.</summary>
        Nhwc = 1,
    }

    /// <summary>What the exported graph outputs.</summary>
    public enum OnnxExportOutput
    {
        /// <summary>Softmax over the classifier's logits, [N, classes]: the <c>Score</c> of the ML.NET
        /// transformer.</summary>
        Probabilities = 0,
        /// <summary>The classifier's logits, [N, classes].</summary>
        Logits = 1,
        /// <summary>
        /// Global-average-pooled activations after <see cref="OnnxExportOptions.FeatureStage"/>, [N, channels]: what
        /// the ResNet featurizer outputs.
        /// </summary>
        Features = 2,
    }

    /// <summary>
    /// Settings of <see cref="OnnxExporter.Export"/>. Every member documents its default.
    /// </summary>
    /// <remarks>
    /// The graph's input is float32 RGB pixel values in 0-255, <c>ImageSize</c> x <c>ImageSize</c>, in
    /// <see cref="InputLayout"/>, with a dynamic batch dimension named <see cref="OnnxExporter.BatchDimension"/>. The
    /// graph applies the rest of the recorded <see cref="ImagePreprocessing"/>: the channel order (RGB to BGR when the
    /// network wants it) and <c>(v * Scale - Mean[c]) / Std[c]</c>. Decoding, EXIF orientation, alpha removal and the
    /// resize (or centre crop) to <c>ImageSize</c> are left to the caller.
    /// </remarks>
    public sealed class OnnxExportOptions
    {
        /// <summary>Name of the graph's pixel input (the ML.NET column <c>ApplyOnnxModel</c> reads). Default
        /// "Pixels".</summary>
        public string InputName { get; set; } = "Pixels";

        /// <summary>
        /// Name of the graph's output (the ML.NET column <c>ApplyOnnxModel</c> writes). Default null: the output column
        /// of the ML.NET transformer that exports (<c>Score</c> of a FrozenResNet model, the featurizer's output
        /// column); for <see cref="OnnxExporter.Export"/> "Score", "Logits" or "Features" by <see cref="Output"/>.
        /// </summary>
        public string OutputName { get; set; }

        /// <summary>Layout of the pixel input. Default <see cref="OnnxInputLayout.Nchw"/> (ML.NET's
        /// <c>ExtractPixels</c> default).</summary>
        public OnnxInputLayout InputLayout { get; set; } = OnnxInputLayout.Nchw;

        /// <summary>
        /// What the graph outputs. Default <see cref="OnnxExportOutput.Probabilities"/>. A network without <c>fc</c>
        /// (for example <see cref="PretrainedWeights.MLNetResNet18"/>) can only export
        /// <see cref="OnnxExportOutput.Features"/>.
        /// </summary>
        public OnnxExportOutput Output { get; set; } = OnnxExportOutput.Probabilities;

        /// <summary>
        /// The stage after which features are pooled when <see cref="Output"/> is
        /// <see cref="OnnxExportOutput.Features"/> (<see cref="ResNetStage.Stem"/> to
        /// <see cref="ResNetStage.Layer4"/>). Default <see cref="ResNetStage.Layer4"/>.
        /// </summary>
        public ResNetStage FeatureStage { get; set; } = ResNetStage.Layer4;

        /// <summary>Written into the model's <c>doc_string</c>. Default null (a description of the graph is
        /// written).</summary>
        public string Description { get; set; }

        /// <summary>
        /// Class names in output order, written into the model's metadata as <c>class_names</c> (a JSON array). Default
        /// null (none written).
        /// </summary>
        public string[] ClassNames { get; set; }

        /// <summary>
        /// The graph reads pixels already normalised and in the network's channel order, NCHW (the ONNX Runtime
        /// engine normalises while it converts the bytes, so that the graph matches PyTorch's export). Not public.
        /// </summary>
        internal bool NormalizedInput { get; set; }

        internal OnnxExportOptions Clone() => (OnnxExportOptions)MemberwiseClone();

        /// <summary>Validates the options and fills in the default output name.</summary>
        internal void Check()
        {
            if (string.IsNullOrEmpty(InputName))
                throw new ArgumentException("The ONNX input name must not be empty.", nameof(InputName));
            if (OutputName is null)
                OutputName = Output switch { OnnxExportOutput.Probabilities => "Score",
                    OnnxExportOutput.Logits => "Logits", _ => "Features" };
            if (OutputName.Length == 0)
                throw new ArgumentException("The ONNX output name must not be empty.", nameof(OutputName));
            if (InputName == OutputName)
                throw new ArgumentException(
                    $"The ONNX input and output are both named '{InputName}'; ONNX needs distinct names.",
                    nameof(OutputName));
            if (!Enum.IsDefined(InputLayout))
                throw new ArgumentOutOfRangeException(nameof(InputLayout), InputLayout, "Unknown input layout.");
            if (!Enum.IsDefined(Output))
                throw new ArgumentOutOfRangeException(nameof(Output), Output, "Unknown output kind.");
            if (Output == OnnxExportOutput.Features
                && (FeatureStage < ResNetStage.Stem || FeatureStage > ResNetStage.Layer4))
                throw new ArgumentOutOfRangeException(nameof(FeatureStage), FeatureStage,
                    "Features are pooled after one of stem, layer1..layer4.");
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using Microsoft.ML.Runtime;

namespace Microsoft.ML.Freezing
{
    public sealed partial class ResNetFeaturizerTransformer
    {
        /// <summary>
        /// Writes the featurizer as an ONNX file that ONNX Runtime and ML.NET's <c>ApplyOnnxModel</c> run without
        /// TorchSharp: by default float RGB pixels in 0-255, [batch, 3, S, S] (S = <c>Preprocessing.ImageSize</c>),
        /// from the input "Pixels", to the pooled features, [batch, <see cref="FeatureDimension"/>], in an output named
        /// after <see cref="OutputColumnName"/>. The graph applies the channel order and normalisation of
        /// <see cref="ResNetTransformerBase.Preprocessing"/>; decoding, EXIF orientation and the resize to S x S are
        /// left to the caller. See
        /// <see cref="OnnxExporter"/> for the graph.
        /// </summary>
        /// <param name="path">The <c>.onnx</c> file to write (overwritten).</param>
        /// <param name="options">
        /// Input name and layout, output name; null for the defaults. The output is always this featurizer's
        /// (<see cref="OnnxExportOptions.Output"/> and <see cref="OnnxExportOptions.FeatureStage"/> are set from it);
        /// an unset <see cref="OnnxExportOptions.OutputName"/> becomes <see cref="OutputColumnName"/>.
        /// </param>
        public void ExportOnnx(string path, OnnxExportOptions options = null)
        {
            Host.CheckNonEmpty(path, nameof(path));
            options = options?.Clone() ?? new OnnxExportOptions();
            options.Output = OnnxExportOutput.Features;
            options.FeatureStage = Stage;
            options.OutputName ??= OutputColumnName;
            OnnxExporter.ExportWeights(Runner.Weights(), Preprocessing, path, options);
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using Microsoft.ML.Runtime;

namespace Microsoft.ML.Freezing
{
    public sealed partial class FrozenResNetTransformer
    {
        /// <summary>
        /// Writes the model as an ONNX file that ONNX Runtime and ML.NET's <c>ApplyOnnxModel</c> run without
        /// TorchSharp. By default the graph reads float RGB pixels in 0-255, [batch, 3, S, S] (S =
        /// <c>Model.Preprocessing.ImageSize</c>), from the input "Pixels" and writes the class probabilities, [batch,
        /// classes], to an output named after
        /// <see cref="ScoreColumnName"/>; the class names go into the metadata (<c>class_names</c>). The graph applies
        /// the channel order and normalisation of the recorded preprocessing; decoding, EXIF orientation and the resize
        /// to S x S are left to the caller (in ML.NET: <c>LoadImages</c>, <c>ResizeImages</c>, <c>ExtractPixels</c>).
        /// See <see cref="OnnxExporter"/> for the graph.
        /// </summary>
        /// <param name="path">The <c>.onnx</c> file to write (overwritten).</param>
        /// <param name="options">
        /// Input name and layout, output kind and name; null for the defaults. An unset
        /// <see cref="OnnxExportOptions.OutputName"/> becomes <see cref="ScoreColumnName"/> (for class outputs), unset
        /// <see cref="OnnxExportOptions.ClassNames"/> the model's class names.
        /// </param>
        public void ExportOnnx(string path, OnnxExportOptions options = null)
        {
            Host.CheckNonEmpty(path, nameof(path));
            options = options?.Clone() ?? new OnnxExportOptions();
            if (options.Output != OnnxExportOutput.Features)
            {
                options.OutputName ??= ScoreColumnName;
                options.ClassNames ??= System.Linq.Enumerable.ToArray(Model.ClassNames);
            }
            OnnxExporter.ExportWeights(Runner.Weights(), Model.Preprocessing, path, options);
        }
    }
}

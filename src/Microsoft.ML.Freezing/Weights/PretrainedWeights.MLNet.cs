// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

namespace Microsoft.ML.Freezing
{
    public sealed partial class PretrainedWeights
    {
        /// <summary>
        /// ML.NET's pretrained ImageNet ResNet-18 (CNTK's; NuGet package
        /// <c>Microsoft.ML.DnnImageFeaturizer.ResNet18</c>, MIT), converted from its <c>ResNet18.onnx</c> on first use
        /// and cached in <c>weights/</c> under <c>$FREEZING_HOME</c>, else
        /// <c>$XDG_CACHE_HOME/Microsoft.ML.Freezing</c>, else <c>~/.cache/Microsoft.ML.Freezing</c> (the system's
        /// temporary folder when that cannot be written).
        /// </summary>
        /// <param name="onnxPath">
        /// The <c>ResNet18.onnx</c> file, or a folder to search (see <see cref="MLNetResNet18Importer.Locate"/>). When
        /// null, the application's output folder (where the package copies
        /// <c>DnnImageModels/ResNet18Onnx/ResNet18.onnx</c>) and then the NuGet package folders are searched.
        /// </param>
        /// <returns>
        /// Weights of a Basic [2,2,2,3] network without fc (its last stage has three blocks; 512 pooled features), with
        /// BGR, mean-subtracted 0-255 preprocessing (<see cref="MLNetResNet18Importer.Preprocessing"/>).
        /// <see cref="CreateNetwork"/> adds a new head for the label count. <see cref="Architecture"/> is null: the
        /// depths match no torchvision preset.
        /// </returns>
        /// <exception cref="System.IO.FileNotFoundException">
        /// The model was not found; add it with <c>dotnet add package Microsoft.ML.DnnImageFeaturizer.ResNet18
        /// --version 0.23.1</c>.
        /// </exception>
        /// <exception cref="System.IO.InvalidDataException">The file is not the expected ONNX ResNet.</exception>
        public static PretrainedWeights MLNetResNet18(string onnxPath = null)
        {
            string path = MLNetResNet18Importer.Resolve(onnxPath);
            return WeightCache.GetOrConvert(path, MLNetResNet18Importer.ConverterId,
                $"ML.NET ResNet-18 ({MLNetResNet18Importer.PackageId}, '{path}')",
                () => MLNetResNet18Importer.Import(path))
                .WithFamily(ResNetArchitecture.ResNet18); // CNTK's ResNet-18 is [2,2,2,3], still a ResNet-18
        }
    }
}

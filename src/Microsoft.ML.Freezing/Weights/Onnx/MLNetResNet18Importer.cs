// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Imports ML.NET's pretrained ResNet-18 (<c>ResNet18.onnx</c> of the NuGet package
    /// <c>Microsoft.ML.DnnImageFeaturizer.ResNet18</c>, CNTK's ImageNet model) into a torchvision-named state dict.
    /// Most users want <see cref="PretrainedWeights.MLNetResNet18"/>, which finds the file and caches the conversion.
    /// </summary>
    /// <remarks>
    /// The network is CNTK's ResNet-18, whose last stage has three BasicBlocks: Basic [2,2,2,3], no fc, BatchNorm
    /// epsilon 1e-5, no conv bias (15.9 M parameters). The initializer names are opaque (<c>Parameter91</c>), so the
    /// importer follows the graph: the first Conv reads the image (the stem), every <c>Add</c> node closes a residual
    /// block whose shortcut is the block input or a 1x1 projection conv + BN of it, and a new stage starts where the
    /// width changes. CNTK pads stride-2 convolutions and the max pool asymmetrically (one less at the end); for even
    /// input sides, such as 224, that equals torchvision's symmetric padding.
    /// </remarks>
    public static class MLNetResNet18Importer
    {
        /// <summary>The NuGet package that ships the model.</summary>
        public const string PackageId = "Microsoft.ML.DnnImageFeaturizer.ResNet18";
        /// <summary>The package version this importer was checked against.</summary>
        public const string PackageVersion = "0.23.1";
        /// <summary>The model's file name.</summary>
        public const string FileName = "ResNet18.onnx";
        /// <summary>Where the package puts the model in an application's output folder (ML.NET's convention).</summary>
        public static readonly string RelativePath = Path.Combine("DnnImageModels", "ResNet18Onnx", FileName);
        /// <summary>The key of the conversion in the weight cache; changes whenever the conversion does.</summary>
        internal const string ConverterId = "mlnet-resnet18-v1";
        /// <summary>The command that adds the model to an application.</summary>
        internal const string AddPackageCommand = "dotnet add package " + PackageId + " --version " + PackageVersion;

        /// <summary>
        /// The preprocessing the model expects: RGB 0-255 turned to BGR, minus the ImageNet mean per channel (in BGR
        /// order: 103.0626, 115.9029, 123.1516), no scaling and no division (std 1), 224 x 224.
        /// </summary>
        /// <remarks>
        /// ML.NET's pipeline subtracts a 224 x 224 mean image (<c>ResNetPreprocess.onnx</c>); these are its per-channel
        /// averages. The mean image varies by about ±10 around them, so features differ slightly from ML.NET's
        /// <c>DnnImageFeaturizer</c> output for the same pixels; for fine-tuning the per-channel mean is the usual
        /// choice.
        /// </remarks>
        public static ImagePreprocessing Preprocessing { get; } = new ImagePreprocessing(
            224, 1f, new[] { 103.0626f, 115.9029f, 123.1516f }, new[] { 1f, 1f, 1f }, ChannelOrder.Bgr);

        /// <summary>
        /// Reads <paramref name="onnxPath"/> and returns its network (Basic [2,2,2,3], no fc),
        /// <see cref="Preprocessing"/> and its tensors with torchvision names. The caller owns the result.
        /// </summary>
        /// <exception cref="FileNotFoundException">The file does not exist.</exception>
        /// <exception cref="InvalidDataException">The file is not an ONNX ResNet of BasicBlocks the importer
        /// understands.</exception>
        public static ConvertedWeights Import(string onnxPath)
        {
            var graph = ReadGraph(onnxPath);
            var stateDict = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            try
            {
                foreach (var entry in graph.Mapping)
                    stateDict.Add(entry.Key, tensor(graph.ReadFloats(entry.OnnxName), entry.Shape));
            }
            catch
            {
                foreach (var t in stateDict.Values)
                    t.Dispose();
                throw;
            }
            return new ConvertedWeights(graph.Definition, Preprocessing, stateDict);
        }

        /// <summary>
        /// The initializers of <paramref name="onnxPath"/> with the torchvision-style keys the importer gives them, in
        /// graph order (in a downsampling block the shortcut comes before <c>conv1</c> there). For checks and tooling.
        /// </summary>
        internal static IReadOnlyList<OnnxTensorMapping> ReadMapping(string onnxPath) => ReadGraph(onnxPath).Mapping;

        /// <summary>
        /// The folders <see cref="PretrainedWeights.MLNetResNet18"/> searches when no path is given, in order: the
        /// application's folder (<see cref="AppContext.BaseDirectory"/>, where the package copies
        /// <c>DnnImageModels/ResNet18Onnx/ResNet18.onnx</c>), then the NuGet package folders (<c>NUGET_PACKAGES</c>,
        /// <c>~/.nuget/packages</c>).
        /// </summary>
        public static IReadOnlyList<string> DefaultSearchFolders
        {
            get
            {
                var folders = new List<string> { AppContext.BaseDirectory };
                string nugetPackages = Environment.GetEnvironmentVariable("NUGET_PACKAGES");
                if (!string.IsNullOrEmpty(nugetPackages))
                    folders.Add(nugetPackages);
                string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
                if (!string.IsNullOrEmpty(home))
                    folders.Add(Path.Combine(home, ".nuget", "packages"));
                return folders.Distinct(StringComparer.Ordinal).ToList();
            }
        }

        /// <summary>
        /// Finds <c>ResNet18.onnx</c> in the first of <paramref name="searchFolders"/> that has it. Each folder may be
        /// an application folder (<c>DnnImageModels/ResNet18Onnx/ResNet18.onnx</c> below it), a <c>DnnImageModels</c>
        /// folder (ML.NET's <c>modelDir</c>: <c>ResNet18Onnx/ResNet18.onnx</c>), the model's own folder, or a NuGet
        /// package folder (<c>microsoft.ml.dnnimagefeaturizer.resnet18/VERSION/tools/DnnImageModels/...</c>; version
        /// <see cref="PackageVersion"/> first, then the newest).
        /// </summary>
        /// <exception cref="FileNotFoundException">No folder has it; the message names the package to add.</exception>
        public static string Locate(IEnumerable<string> searchFolders)
        {
            if (searchFolders is null) throw new ArgumentNullException(nameof(searchFolders));
            var searched = new List<string>();
            foreach (string folder in searchFolders)
            {
                if (string.IsNullOrEmpty(folder))
                    continue;
                searched.Add(folder);
                if (!Directory.Exists(folder))
                    continue;
                foreach (string candidate in Candidates(folder))
                {
                    if (File.Exists(candidate))
                        return Path.GetFullPath(candidate);
                }
            }
            throw new FileNotFoundException(
                $"ML.NET's pretrained ResNet-18 ({RelativePath}) was not found in "
                    + $"{(searched.Count == 0 ? "any folder" : string.Join(", ", searched.Select(f => $"'{f}'")))}. "
                + $"Add the NuGet package that ships it to your application ({AddPackageCommand}), which copies it to "
                + "the output folder, "
                + "or pass the file's path.", FileName);
        }

        /// <summary>
        /// <paramref name="onnxPath"/> itself when it is a file, a search of it (<see cref="Locate"/>) when it is a
        /// folder, else a search of <see cref="DefaultSearchFolders"/> when it is null or empty.
        /// </summary>
        /// <exception cref="FileNotFoundException">The path does not exist, or nothing was found; the message names the
        /// package.</exception>
        public static string Resolve(string onnxPath)
        {
            if (string.IsNullOrEmpty(onnxPath))
                return Locate(DefaultSearchFolders);
            if (File.Exists(onnxPath))
                return Path.GetFullPath(onnxPath);
            if (Directory.Exists(onnxPath))
                return Locate(new[] { onnxPath });
            throw new FileNotFoundException(
                $"ML.NET's pretrained ResNet-18 file '{onnxPath}' does not exist. It ships in the NuGet package "
                + $"{PackageId} "
                + $"({AddPackageCommand}), which copies it to {RelativePath} in the output folder; or leave the path "
                + "out to search there.",
                onnxPath);
        }

        private static IEnumerable<string> Candidates(string folder)
        {
            yield return Path.Combine(folder, RelativePath);
            yield return Path.Combine(folder, "ResNet18Onnx", FileName);
            yield return Path.Combine(folder, FileName);
            string package = Path.Combine(folder, PackageId.ToLowerInvariant());
            if (!Directory.Exists(package))
                yield break;
            var versions = Directory.GetDirectories(package)
                .Select(d => (Path: d, Name: Path.GetFileName(d)))
                .OrderByDescending(v => v.Name == PackageVersion)
                .ThenByDescending(v => Version.TryParse(v.Name.Split('-')[0], out var parsed) ? parsed
                : new Version(0, 0))
                .ThenByDescending(v => v.Name, StringComparer.Ordinal);
            foreach (var version in versions)
                yield return Path.Combine(version.Path, "tools", RelativePath);
        }

        private static OnnxResNetGraph ReadGraph(string onnxPath)
        {
            if (string.IsNullOrEmpty(onnxPath)) throw new ArgumentException("A path is required.", nameof(onnxPath));
            if (!File.Exists(onnxPath))
                throw new FileNotFoundException($"ONNX model '{onnxPath}' does not exist.", onnxPath);
            return OnnxResNetGraph.Read(onnxPath);
        }
    }
}

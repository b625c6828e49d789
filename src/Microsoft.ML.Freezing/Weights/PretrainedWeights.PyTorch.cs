// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    public sealed partial class PretrainedWeights
    {
        /// <summary>The weight cache's converter name of <see cref="FromPyTorch"/>; changes when the
        /// conversion does.</summary>
        internal const string PyTorchConverter = "pytorch-v1";

        /// <summary>
        /// Weights from a torchvision ResNet <c>state_dict</c> file: <c>torch.save(model.state_dict(), path)</c>
        /// (<c>.pth</c>/<c>.pt</c>, the zip format of PyTorch 1.6 and later) or safetensors, read with
        /// TorchSharp.PyBridge. Keys keep torchvision's names (<c>conv1</c>, <c>bn1</c>, <c>layer1.0.conv1</c>, ...,
        /// <c>fc</c>); a
        /// <c>module.</c> prefix (DataParallel) and a <c>{"state_dict": ...}</c> or <c>{"model": ...}</c> wrapper are
        /// accepted. The conversion is cached (converter <c>pytorch-v1</c>, under
        /// <c>~/.cache/Microsoft.ML.Freezing/weights</c>), keyed by the file's content.
        /// </summary>
        /// <param name="path">The state dict file.</param>
        /// <param name="architecture">
        /// The preset the file must fit; a file that does not is an error listing its missing, unexpected and
        /// mis-shaped keys. Null infers the network from the keys and shapes: Bottleneck blocks when a block has
        /// <c>conv3</c>, stage depths from the highest block index of each layer, the class count from
        /// <c>fc.weight</c> (0 when there is no <c>fc</c>), torchvision's stride variant
        /// (<see cref="ResNetVariant.V1_5"/>) and BatchNorm epsilon (1e-5). The class count always comes from the file.
        /// </param>
        /// <param name="preprocessing">What the weights were trained with; null means
        /// <see cref="ImagePreprocessing.ImageNet"/>(224), torchvision's.</param>
        /// <exception cref="FileNotFoundException">The file does not exist.</exception>
        /// <exception cref="InvalidDataException">The file is not a readable state dict, or does not fit the
        /// network.</exception>
        public static PretrainedWeights FromPyTorch(string path, ResNetArchitecture? architecture = null,
            ImagePreprocessing preprocessing = null)
        {
            if (path == null)
                throw new ArgumentNullException(nameof(path));
            if (!File.Exists(path))
                throw new FileNotFoundException($"PyTorch weights file '{path}' does not exist.", path);
            path = Path.GetFullPath(path);
            preprocessing ??= ImagePreprocessing.ImageNet(224);
            string description = $"PyTorch weights '{Path.GetFileName(path)}'";

            var cached = WeightCache.GetOrConvert(path, PyTorchConverter, description,
                () => ConvertPyTorch(path, architecture, preprocessing));
            if (architecture.HasValue
                && !cached.Definition.Equals(ResNetDefinition.For(architecture.Value, cached.Definition.NumClasses)))
            {
                // The cache is keyed by the file alone, so an entry converted earlier with another (or no) architecture
                // lands here: convert again, which reports how the file differs from the requested network.
                ConvertPyTorch(path, architecture, preprocessing).Dispose();
                throw new InvalidDataException(
                    $"{description} do not fit {architecture.Value}: they define {cached.Definition}.");
            }
            // The cached file records the preprocessing of its first conversion; the caller's choice wins.
            return Create(description, cached.Definition, preprocessing, cached._load);
        }

        private static ConvertedWeights ConvertPyTorch(string path, ResNetArchitecture? architecture,
            ImagePreprocessing preprocessing)
        {
            var stateDict = PyTorchStateDict.Read(path);
            try
            {
                var definition = architecture.HasValue
                    ? ResNetDefinition.For(architecture.Value, ClassCount(stateDict))
                    : PyTorchStateDict.Infer(stateDict, path);
                // Checked here, with the file's name in the message, rather than when the cache writes the weights.
                using (var network = new ResNet(definition, seed: 0))
                    StateDictLoader.Load(network, stateDict, $"PyTorch weights in '{Path.GetFileName(path)}'");
                return new ConvertedWeights(definition, preprocessing, stateDict);
            }
            catch
            {
                foreach (var tensor in stateDict.Values)
                    tensor.Dispose();
                throw;
            }
        }

        private static int ClassCount(IReadOnlyDictionary<string, Tensor> stateDict)
            => stateDict.TryGetValue("fc.weight", out var fc) && fc.shape.Length == 2 ? checked((int)fc.shape[0]) : 0;
    }
}

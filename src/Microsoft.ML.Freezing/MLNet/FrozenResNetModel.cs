using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// What a fitted <see cref="FrozenResNetTransformer"/> holds: the network's definition, the class names (the label's
    /// key values, in key order), the preprocessing contract, and the TorchSharp module itself for power users.
    /// </summary>
    public sealed class FrozenResNetModel : IDisposable
    {
        private readonly object _scoringLock = new object();

        internal FrozenResNetModel(ResNet network, IReadOnlyList<string> classNames, ImagePreprocessing preprocessing, ComputeDevice device)
        {
            Network = network ?? throw new ArgumentNullException(nameof(network));
            ClassNames = classNames?.ToArray() ?? throw new ArgumentNullException(nameof(classNames));
            Preprocessing = preprocessing ?? throw new ArgumentNullException(nameof(preprocessing));
            if (network.Definition.NumClasses != ClassNames.Count)
                throw new ArgumentException($"The network has {network.Definition.NumClasses} outputs but {ClassNames.Count} class names were given.");
            Device = device;
            Network.eval();
        }

        /// <summary>The network's shape.</summary>
        public ResNetDefinition Definition => Network.Definition;
        /// <summary>Class names in key order (key k is class k-1).</summary>
        public IReadOnlyList<string> ClassNames { get; }
        /// <summary>The preprocessing contract every consumer of this model reads.</summary>
        public ImagePreprocessing Preprocessing { get; }
        /// <summary>The TorchSharp module (eval mode). Changing it changes the model.</summary>
        public ResNet Network { get; }
        /// <summary>Where scoring runs.</summary>
        public ComputeDevice Device { get; }

        /// <summary>
        /// Class probabilities of preprocessed images (RGB bytes as <see cref="ImagePreprocessing"/> produces), one array per
        /// image, scored as one batch.
        /// </summary>
        public float[][] Score(IReadOnlyList<byte[]> rgbImages)
        {
            if (rgbImages.Count == 0)
                return Array.Empty<float[]>();
            int side = Preprocessing.ImageSize;
            var flat = new byte[rgbImages.Count * side * side * 3];
            for (int i = 0; i < rgbImages.Count; i++)
                Buffer.BlockCopy(rgbImages[i], 0, flat, i * side * side * 3, side * side * 3);

            float[] probabilities;
            // One forward pass at a time: PredictionEngines on several threads share this module.
            lock (_scoringLock)
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                var device = Device == ComputeDevice.Cuda ? CUDA : CPU;
                var bytes = tensor(flat, new long[] { rgbImages.Count, side, side, 3 });
                var images = Preprocessing.Normalize(bytes).to(device);
                probabilities = nn.functional.softmax(Network.call(images), 1).cpu().data<float>().ToArray();
            }
            int k = ClassNames.Count;
            var result = new float[rgbImages.Count][];
            for (int i = 0; i < result.Length; i++)
                result[i] = probabilities.AsSpan(i * k, k).ToArray();
            return result;
        }

        /// <inheritdoc/>
        public void Dispose() => Network.Dispose();
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>Whether training left a network that computes numbers: no NaN model is returned or saved.</summary>
    internal static class Divergence
    {
        /// <summary>The state-dict name of the first parameter or buffer holding NaN or infinity, or null.</summary>
        public static string FirstNonFinite(ResNet network)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            foreach (var (name, tensor) in network.state_dict())
            {
                if (tensor.is_floating_point() && !tensor.isfinite().all().item<bool>())
                    return name;
            }
            return null;
        }

        /// <summary>
        /// Throws when training left a non-finite parameter, or weights so large that the network's outputs on a few
        /// training images overflow.
        /// </summary>
        public static void ThrowIfDiverged(ResNet network, IImageBatchSource train)
        {
            string name = FirstNonFinite(network);
            if (name != null)
                throw Diverged($"{name} holds non-finite values (NaN or infinity)");
            bool wasTraining = network.training;
            network.eval();
            try
            {
                if (!OutputsAreFinite(network, train))
                    throw Diverged("the network's outputs on training images are non-finite");
            }
            finally
            {
                network.train(wasTraining);
            }
        }

        private static bool OutputsAreFinite(ResNet network, IImageBatchSource train)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            using var batch = train.GetBatch(Enumerable.Range(0, Math.Min(train.Count, 8)).ToArray());
            var device = network.parameters().First().device;
            return network.call(batch.Images.to(device)).isfinite().all().item<bool>();
        }

        private static ArithmeticException Diverged(string what)
            => new ArithmeticException($"Training diverged: after the last step, {what}. "
                + "Lower the learning rate (or check the data); no model was produced.");
    }
}

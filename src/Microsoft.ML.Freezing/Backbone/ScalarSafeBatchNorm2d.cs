// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// <c>torch.nn.BatchNorm2d</c> with the same parameters, buffers and state-dict keys, whose training-mode forward
    /// counts batches with a Scalar that cannot be collected mid-call. TorchSharp 0.107's own forward runs
    /// <c>num_batches_tracked.add_(1)</c>, which makes two temporary Scalars (the 1 and the alpha) that a garbage
    /// collection can free while libtorch reads them (see <see cref="Scalars"/>): under a collecting thread, training
    /// with a thawed stage failed within seconds ("Expected false to be true" from <c>Scalar::toFloat</c>).
    /// </summary>
    internal sealed class ScalarSafeBatchNorm2d : BatchNorm
    {
        public ScalarSafeBatchNorm2d(long features, double eps)
            : base(features, eps, 0.1, affine: true, track_running_stats: true, device: null, dtype: null,
                name: "BatchNorm2d")
        {
        }

        /// <summary>PyTorch's <c>_BatchNorm.forward</c>: batch statistics (and a running-average update) in training
        /// mode, the running statistics in eval mode.</summary>
        public override Tensor forward(Tensor input)
        {
            ValidateInputDimensions(input);
            double factor = momentum ?? 0;
            if (training && num_batches_tracked is not null)
            {
                num_batches_tracked.add_(Scalars.One, Scalars.One);
                if (momentum is null) // a cumulative moving average
                    factor = 1.0 / num_batches_tracked.item<long>();
            }
            return nn.functional.batch_norm(input, running_mean, running_var, weight, bias, training, factor, eps);
        }

        protected override void ValidateInputDimensions(Tensor input)
        {
            if (input.ndim != 4)
                throw new ArgumentException($"BatchNorm2d expects 4-D input (N, C, H, W), got {input.ndim}-D.");
        }
    }
}

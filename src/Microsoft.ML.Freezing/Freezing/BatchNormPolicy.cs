// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// How BatchNorm layers of frozen stages behave during training. A trainable stage's BatchNorm always trains
    /// normally.
    /// </summary>
    public enum BatchNormPolicy
    {
        /// <summary>Default: eval mode (running statistics fixed) and affine parameters frozen.</summary>
        Frozen,
        /// <summary>Eval-mode statistics, affine parameters trainable (fastai's <c>train_bn</c>).</summary>
        TrainAffine,
        /// <summary>Running statistics update and affine parameters train.</summary>
        Train,
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Scalar arguments that outlive the native call. TorchSharp's <c>add_(Tensor)</c> (and any call given a number
    /// where a <see cref="Scalar"/> is expected) makes a temporary Scalar whose only owner is its finalizer, and
    /// nothing keeps it alive after its handle is read: a garbage collection during the native call can free it first,
    /// and libtorch then reads a freed Scalar ("Expected false to be true" from <c>Scalar::toFloat</c>; seen once in
    /// hours of training, in <see cref="ImagePreprocessing.Normalize"/>). Hot paths pass these static Scalars instead.
    /// </summary>
    internal static class Scalars
    {
        /// <summary>The integer 1, alive for the process (a static root), shared read-only by every thread.</summary>
        public static readonly Scalar One = 1.ToScalar();

        /// <summary><c>x += y</c> in place, as <c>x.add_(y)</c> but with a Scalar that cannot be collected mid-call.
        /// </summary>
        public static Tensor AddInPlace(this Tensor x, Tensor y) => x.add_(y, One);

        /// <summary>The integer -1, alive for the process.</summary>
        public static readonly Scalar MinusOne = (-1).ToScalar();

        /// <summary><c>x - y</c> as <c>x + (-1)·y</c> (the same floats), with a Scalar that cannot be collected
        /// mid-call.</summary>
        public static Tensor Minus(this Tensor x, Tensor y) => x.add(y, MinusOne);

        /// <summary><c>x²</c> as <c>x·x</c> (libtorch's <c>pow(x, 2)</c> multiplies too) without <c>square()</c>'s
        /// temporary Scalar exponent.</summary>
        public static Tensor Squared(this Tensor x) => x.mul(x);
    }
}

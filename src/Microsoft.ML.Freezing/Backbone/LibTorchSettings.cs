// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Runtime.InteropServices;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Process-wide libtorch settings the library needs and TorchSharp does not expose, set once through libtorch's own
    /// C++ entry points (<c>at::globalContext()</c>), the way <c>torch.backends.nnpack.set_flags</c> does in Python.
    /// </summary>
    /// <remarks>
    /// NNPACK off: PyTorch asks whether NNPACK is available for every convolution that oneDNN does not take (one image,
    /// few pixels: a PredictionEngine at 112 px), and on CPUs NNPACK does not know it prints "Could not initialize
    /// NNPACK! Reason: Unsupported hardware." each time. It would only ever run for batches of 16 or more that oneDNN
    /// declines, which our networks do not produce. An environment variable set from .NET would not reach libtorch's
    /// <c>getenv</c>, hence the call.
    /// </remarks>
    internal static class LibTorchSettings
    {
        /// <summary>The error when <see cref="ComputeDevice.Cuda"/> is asked for and TorchSharp has no CUDA.</summary>
        public const string NoCudaDevice = "Device is Cuda, but no CUDA device is available to TorchSharp. That needs "
            + "a CUDA device with its driver and a CUDA build of libtorch: the package libtorch-cuda-12.8-linux-x64 "
            + "2.10.0 in place of libtorch-cpu-linux-x64, which the Microsoft.ML.Freezing package references (CUDA is "
            + "untested).";

        private const string Library = "libtorch_cpu";
        private static readonly object Gate = new object();
        private static bool _applied;

        /// <summary>Applies the settings once per process (TorchSharp must have loaded libtorch).</summary>
        public static void EnsureApplied()
        {
            lock (Gate)
            {
                if (_applied)
                    return;
                _applied = true;
                try
                {
                    SetUserEnabledNNPACK(GlobalContext(), false);
                }
                catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
                {
                    // Another libtorch build (CUDA) or version: its warnings stay, nothing else changes.
                }
            }
        }

        /// <summary>Whether libtorch may use NNPACK (false once <see cref="EnsureApplied"/> ran); null if
        /// unknown.</summary>
        public static bool? NNPackEnabled()
        {
            try
            {
                return UserEnabledNNPACK(GlobalContext());
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                return null;
            }
        }

        [DllImport(Library, EntryPoint = "_ZN2at13globalContextEv")]
        private static extern IntPtr GlobalContext();

        [DllImport(Library, EntryPoint = "_ZN2at7Context20setUserEnabledNNPACKEb")]
        private static extern void SetUserEnabledNNPACK(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

        [DllImport(Library, EntryPoint = "_ZNK2at7Context17userEnabledNNPACKEv")]
        [return: MarshalAs(UnmanagedType.U1)]
        private static extern bool UserEnabledNNPACK(IntPtr context);
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
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

        /// <summary>
        /// The intra-op threads TorchSharp runs with, for an engine that should use as many: libtorch's answer when it
        /// is loaded in this process (so a <c>torch.set_num_threads</c> call counts), else what libtorch would choose
        /// (<c>OMP_NUM_THREADS</c>, <c>MKL_NUM_THREADS</c>, else one per physical core), found without loading it.
        /// </summary>
        public static int IntraOpThreads()
            => IsLoaded() ? TorchSharp.torch.get_num_threads() : DefaultIntraOpThreads();

        /// <summary>Whether libtorch is mapped into this process (by anyone), found without loading it.</summary>
        public static bool IsLoaded()
        {
            try
            {
                using var process = Process.GetCurrentProcess();
                foreach (ProcessModule module in process.Modules)
                {
                    string name = module.ModuleName ?? "";
                    if (name.StartsWith(Library, StringComparison.Ordinal)
                        || name.StartsWith("torch_cpu", StringComparison.OrdinalIgnoreCase))
                        return true;
                }
                return false;
            }
            catch (Exception e) when (e is InvalidOperationException or NotSupportedException
                or System.ComponentModel.Win32Exception)
            {
                return true; // cannot tell: ask libtorch, as before
            }
        }

        /// <summary>libtorch's default intra-op thread count (<c>intraop_default_num_threads</c>), within the CPUs
        /// this process may use.</summary>
        internal static int DefaultIntraOpThreads()
        {
            foreach (var variable in new[] { "OMP_NUM_THREADS", "MKL_NUM_THREADS" })
            {
                if (int.TryParse(Environment.GetEnvironmentVariable(variable), NumberStyles.None,
                    CultureInfo.InvariantCulture, out int threads) && threads > 0)
                    return threads;
            }
            return Math.Max(1, Environment.ProcessorCount / ThreadsPerCore());
        }

        // Hardware threads per physical core (2 with SMT), from Linux's topology of CPU 0; 1 when unknown.
        private static int ThreadsPerCore()
        {
            try
            {
                string siblings = File.ReadAllText("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list").Trim();
                int count = 0;
                foreach (var part in siblings.Split(','))
                {
                    var range = part.Split('-');
                    count += range.Length == 2 ? int.Parse(range[1], CultureInfo.InvariantCulture)
                        - int.Parse(range[0], CultureInfo.InvariantCulture) + 1 : 1;
                }
                return Math.Max(1, count);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException
                or OverflowException)
            {
                return 1;
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

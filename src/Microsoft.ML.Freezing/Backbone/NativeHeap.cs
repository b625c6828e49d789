// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Runtime.InteropServices;
using System.Threading;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// glibc's heap, where libtorch's CPU tensors live: how much of the memory it frees it keeps for reuse. A no-op
    /// where the C library is not glibc.
    /// </summary>
    /// <remarks>
    /// By default glibc serves each block over a threshold that adapts up to 32 MB with a fresh mapping and gives
    /// freed memory at the top of its heap back to the system, so a training process touches new pages over and over.
    /// A first touch costs a page fault: about 11 µs per 4 KB page on the 2-vCPU VMs this library is measured on,
    /// where first writing 240 MB took 660 ms and writing it again 14 ms. The seed's recipe (eng/bench.sh, its
    /// process alternating with one without this): 2.0-2.1 million page faults and 14-17 s of system time without,
    /// 0.65 million and 5 s with; its training 32.5-35.1 s without, 29.6-30.1 s with (the one-pass
    /// <see cref="PixelNormalizer"/> in both). This holds for the main thread's arena (a console app's training, the
    /// sample, the benchmark). A thread served by one of glibc's per-thread arenas (a thread-pool thread, a test host)
    /// gets a block that does not fit its heaps (64 MB at most) in an extra heap, which glibc unmaps as soon as all of
    /// it is free, whatever the thresholds, and a block over 64 MB mapped afresh; PyTorch users avoid both with
    /// jemalloc or tcmalloc through LD_PRELOAD.
    /// </remarks>
    internal static class NativeHeap
    {
        /// <summary>Blocks up to this size come from the heap and return to it when freed.</summary>
        public const int KeptBlockBytes = 256 << 20;
        /// <summary>Free memory at the top of the heap kept, not returned to the system.</summary>
        public const int KeptTopBytes = 1 << 30;

        private const int TrimThresholdOption = -1; // M_TRIM_THRESHOLD in malloc.h
        private const int MmapThresholdOption = -3; // M_MMAP_THRESHOLD in malloc.h
        private static int _keeping;

        /// <summary>
        /// From now on, for the whole process, blocks up to <see cref="KeptBlockBytes"/> are reused rather than mapped
        /// and unmapped, and up to <see cref="KeptTopBytes"/> of free memory stays in the heap. True the first time it
        /// took effect. Training and the TorchSharp fold call it; scoring on ONNX Runtime (the default) does not, and
        /// returns what building its session freed with <see cref="Trim"/>.
        /// </summary>
        public static bool KeepFreedBlocks()
        {
            if (!OperatingSystem.IsLinux() || Interlocked.Exchange(ref _keeping, 1) == 1)
                return false;
            try
            {
                return Mallopt(MmapThresholdOption, KeptBlockBytes) == 1
                    && Mallopt(TrimThresholdOption, KeptTopBytes) == 1;
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                return false; // not glibc (musl): its heap works as it does
            }
        }

        /// <summary>Returns the free memory of glibc's heaps to the system.</summary>
        public static void Trim()
        {
            if (!OperatingSystem.IsLinux())
                return;
            try
            {
                MallocTrim(UIntPtr.Zero);
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                // Not glibc (musl has no malloc_trim): its heap stays as it is.
            }
        }

        /// <summary>
        /// Asks Linux to back the whole 2 MB pages inside [<paramref name="start"/>, +<paramref name="bytes"/>) with
        /// transparent huge pages (<c>madvise(MADV_HUGEPAGE)</c>; most kernels enable them only where asked), so that
        /// first writing a large block that stays (the activation cache) takes one page fault per 2 MB rather than
        /// per 4 KB. Writing 240 MB of fresh memory for the first time on the VP2INTERSECT VM: 930-950 ms with 4 KB
        /// pages, 27-34 ms with huge pages. Advice only: false where it was not taken, and nothing changes.
        /// </summary>
        public static bool AdviseHugePages(IntPtr start, long bytes)
        {
            const long huge = 2 << 20;
            long first = (start.ToInt64() + huge - 1) & ~(huge - 1), end = (start.ToInt64() + bytes) & ~(huge - 1);
            if (!OperatingSystem.IsLinux() || end <= first)
                return false;
            try
            {
                return Madvise(new IntPtr(first), new UIntPtr((ulong)(end - first)), HugePageAdvice) == 0;
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                return false;
            }
        }

        private const int HugePageAdvice = 14; // MADV_HUGEPAGE in sys/mman.h

        [DllImport("libc.so.6", EntryPoint = "madvise")]
        private static extern int Madvise(IntPtr start, UIntPtr length, int advice);

        [DllImport("libc.so.6", EntryPoint = "mallopt")]
        private static extern int Mallopt(int option, int value);

        [DllImport("libc.so.6", EntryPoint = "malloc_trim")]
        private static extern int MallocTrim(UIntPtr pad);
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests.Backbone
{
    [TestClass]
    public sealed class NativeHeapTests
    {
        // Over the 32 MB up to which glibc's own threshold adapts: by default a block this size is mapped afresh at
        // every request, and every 4 KB page of it faults when first written (10,240 faults).
        private const long BlockBytes = 40L << 20;

        [TestMethod]
        public void ABlockAllocatedWhereAFreedOneWasReusesItsPagesWithoutPageFaults()
        {
            if (!OperatingSystem.IsLinux())
            {
                Assert.IsFalse(NativeHeap.KeepFreedBlocks(), "glibc's heap is Linux's: elsewhere nothing changes.");
                return;
            }
            // In a fresh process, on its main thread: glibc's main arena keeps what it frees by the thresholds. A
            // test host's thread may be served by another arena, which deletes an extra heap once all of it is free
            // whatever the thresholds (measured here, the test failed about one run in five that way).
            var (exitCode, output) = LoadCheckProcess.Run("--heap-reuse");
            Assert.AreEqual(0, exitCode, output);
            StringAssert.Contains(output, "kept: True");
            var line = output.Split('\n').Single(l => l.StartsWith("faults: ", StringComparison.Ordinal));
            long faults = long.Parse(line.Substring("faults: ".Length), CultureInfo.InvariantCulture);
            Assert.IsTrue(faults < MaxFaults,
                $"{faults} minor page faults writing a 40 MB block where one was freed (a fresh mapping: 10,240).");
        }

        private const long MaxFaults = BlockBytes / 4096 / 10;

        [TestMethod]
        public void FreshMemoryAdvisedForHugePagesFaultsOncePer2MBWhereTheKernelOffersThem()
        {
            Assert.IsFalse(NativeHeap.AdviseHugePages(new IntPtr(1 << 21), 1 << 20),
                "A range holding no whole 2 MB page is left alone.");
            if (!OperatingSystem.IsLinux())
            {
                Assert.IsFalse(NativeHeap.AdviseHugePages(new IntPtr(1 << 21), 64L << 20), "Huge pages: Linux only.");
                return;
            }
            const long bytes = 34L << 20; // 32 MB of whole 2 MB pages inside, wherever the mapping starts
            IntPtr block = Mmap(IntPtr.Zero, (UIntPtr)bytes, 3, 0x22, -1, IntPtr.Zero); // read/write, private anonymous
            Assert.AreNotEqual(new IntPtr(-1), block);
            try
            {
                string mode = File.Exists(ThpMode) ? File.ReadAllText(ThpMode) : "[never]";
                bool offered = !mode.Contains("[never]");
                Assert.AreEqual(offered, NativeHeap.AdviseHugePages(block, bytes), $"THP mode: {mode.Trim()}");
                long before = MinorPageFaults();
                for (int offset = 0; offset < bytes; offset += 4096)
                    Marshal.WriteByte(block, offset, 7);
                long faults = MinorPageFaults() - before;
                if (offered)
                    Assert.IsTrue(faults < bytes / 4096 / 10,
                        $"{faults} minor page faults first writing 34 MB advised for huge pages (4 KB pages: 8,704).");
                for (int offset = 0; offset < bytes; offset += 1 << 20)
                    Assert.AreEqual(7, Marshal.ReadByte(block, offset));
            }
            finally
            {
                Munmap(block, (UIntPtr)bytes);
            }
        }

        private const string ThpMode = "/sys/kernel/mm/transparent_hugepage/enabled";

        // Field 10 of /proc/self/stat (after the parenthesised command name): minor faults of the process.
        private static long MinorPageFaults()
        {
            string stat = File.ReadAllText("/proc/self/stat");
            var fields = stat.Substring(stat.LastIndexOf(')') + 2).Split(' ');
            return long.Parse(fields[7], CultureInfo.InvariantCulture);
        }

        [DllImport("libc.so.6", EntryPoint = "mmap")]
        private static extern IntPtr Mmap(IntPtr address, UIntPtr length, int protection, int flags, int fd,
            IntPtr offset);

        [DllImport("libc.so.6", EntryPoint = "munmap")]
        private static extern int Munmap(IntPtr address, UIntPtr length);
    }
}

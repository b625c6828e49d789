// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;
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
            NativeHeap.KeepFreedBlocks(); // training calls it; the first call in the process takes effect
            WriteAndFree(); // the heap grows once
            long before = MinorPageFaults();
            WriteAndFree();
            long faults = MinorPageFaults() - before;
            Assert.IsTrue(faults < BlockBytes / 4096 / 10,
                $"{faults} minor page faults writing a 40 MB block where one was freed (a fresh mapping: 10,240).");
        }

        private static void WriteAndFree()
        {
            IntPtr block = Malloc((UIntPtr)BlockBytes);
            Assert.AreNotEqual(IntPtr.Zero, block);
            try
            {
                for (int offset = 0; offset < BlockBytes; offset += 4096)
                    Marshal.WriteByte(block, offset, 1);
            }
            finally
            {
                Free(block);
            }
        }

        // Field 10 of /proc/self/stat (after the parenthesised command name): minor faults of the process.
        private static long MinorPageFaults()
        {
            string stat = File.ReadAllText("/proc/self/stat");
            var fields = stat.Substring(stat.LastIndexOf(')') + 2).Split(' ');
            return long.Parse(fields[7], System.Globalization.CultureInfo.InvariantCulture);
        }

        [DllImport("libc.so.6", EntryPoint = "malloc")]
        private static extern IntPtr Malloc(UIntPtr size);

        [DllImport("libc.so.6", EntryPoint = "free")]
        private static extern void Free(IntPtr block);
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;

namespace Microsoft.ML.Freezing.Tests.Reliability
{
    /// <summary>This process's resident memory, from /proc/self/status (Linux).</summary>
    internal static class ProcessMemory
    {
        /// <summary>Resident set size now (VmRSS), in bytes.</summary>
        public static long Resident() => Read("VmRSS:");

        /// <summary>The largest resident set size since the process started or since <see cref="ResetPeak"/> (VmHWM),
        /// in bytes.</summary>
        public static long Peak() => Read("VmHWM:");

        /// <summary>Resets the peak to the current size (writes 5 to /proc/self/clear_refs); false where the kernel
        /// refuses.</summary>
        public static bool ResetPeak()
        {
            try
            {
                File.WriteAllText("/proc/self/clear_refs", "5");
                return true;
            }
            catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
            {
                return false;
            }
        }

        /// <summary>
        /// Collects garbage twice (with finalizers between) and hands glibc's free memory back to the system
        /// (malloc_trim), so that what stays resident is live memory: otherwise memory freed by earlier tests stays
        /// resident and a later allocation (or a leak) reuses it without showing.
        /// </summary>
        public static void Settle()
        {
            for (int i = 0; i < 2; i++)
            {
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
                GC.WaitForPendingFinalizers();
            }
            try
            {
                malloc_trim(UIntPtr.Zero);
            }
            catch (Exception ex) when (ex is DllNotFoundException || ex is EntryPointNotFoundException)
            {
                // Not glibc: nothing to trim.
            }
        }

        [DllImport("libc", EntryPoint = "malloc_trim")]
        private static extern int malloc_trim(UIntPtr pad);

        public static string Mb(long bytes) => $"{bytes / (1024.0 * 1024.0):F1} MB";

        private static long Read(string key)
        {
            var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith(key, StringComparison.Ordinal));
            return long.Parse(line.Substring(key.Length).Trim().Split(' ')[0],
                System.Globalization.CultureInfo.InvariantCulture) * 1024;
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

// Compiled by RoslynCodeTaskFactory from LibTorchSharpGlibcxxFix.targets (packed as
// build/ and buildTransitive/Microsoft.ML.Freezing.targets).
//
// Why: libLibTorchSharp.so from TorchSharp 0.107 is built with GCC 13 and asks libstdc++.so.6 for
// GLIBCXX_3.4.32. Older systems (Debian 12 stops at 3.4.30) refuse to load it, and TorchSharp then
// reports a misleading "doesn't contain a reference to libtorch-cpu-linux-x64". The only symbol
// behind that version is GCC 13's _ZSt21ios_base_library_initv marker, which no relocation uses,
// so marking that one version requirement weak (VER_FLG_WEAK) lets the loader accept the library.
// Only the copy in the build/publish output is changed, never the NuGet cache.
using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public class MarkGlibcxxWeak : Task
{
    const string VersionName = "GLIBCXX_3.4.32";
    const uint SHT_GNU_verneed = 0x6ffffffe;
    const ushort VER_FLG_WEAK = 0x2;

    [Required]
    public ITaskItem[] Files { get; set; }

    public override bool Execute()
    {
        if (Files == null || Files.Length == 0 || !RuntimeInformation.IsOSPlatform(OSPlatform.Linux))
            return true;

        string libstdcxx = FindLibStdCxx();
        if (libstdcxx == null)
        {
            Log.LogMessage(MessageImportance.Low, "MarkGlibcxxWeak: no libstdc++.so.6 found; nothing to do.");
            return true;
        }
        if (HasVersion(libstdcxx))
        {
            Log.LogMessage(MessageImportance.Low, "MarkGlibcxxWeak: {0} provides {1}; no workaround needed.", libstdcxx,
                VersionName);
            return true;
        }

        foreach (ITaskItem item in Files)
        {
            string path = item.GetMetadata("FullPath");
            try
            {
                Patch(path, libstdcxx);
            }
            catch (Exception e)
            {
                // A failure here is not fatal for the build, but the app will not load TorchSharp, so say so.
                Log.LogWarning("MarkGlibcxxWeak: could not mark {0} weak in {1}: {2}", VersionName, path, e.Message);
            }
        }
        return !Log.HasLoggedErrors;
    }

    void Patch(string path, string libstdcxx)
    {
        byte[] elf = File.ReadAllBytes(path);
        List<int> flagOffsets = FindVernauxFlags(elf, VersionName);
        if (flagOffsets.Count == 0)
        {
            Log.LogMessage(MessageImportance.Low, "MarkGlibcxxWeak: {0} does not require {1}.", path, VersionName);
            return;
        }

        bool changed = false;
        foreach (int at in flagOffsets)
        {
            ushort flags = ReadU16(elf, at);
            if ((flags & VER_FLG_WEAK) == 0)
            {
                WriteU16(elf, at, (ushort)(flags | VER_FLG_WEAK));
                changed = true;
            }
        }
        if (!changed)
        {
            Log.LogMessage(MessageImportance.Low, "MarkGlibcxxWeak: {0} already has {1} marked weak.", path,
                VersionName);
            return;
        }

        // Write a new file and rename it over the old one: if the output copy is a hard link or
        // symlink into the NuGet cache, the cache file stays untouched.
        DateTime mtime = File.GetLastWriteTimeUtc(path);
        string tmp = path + ".glibcxxfix.tmp";
        File.WriteAllBytes(tmp, elf);
        // Keep the source timestamp so incremental copies (SkipUnchangedFiles) keep the patched file.
        File.SetLastWriteTimeUtc(tmp, mtime);
        File.Replace(tmp, path, null);

        Log.LogMessage(MessageImportance.Normal,
            "Platform workaround: marked the {0} requirement of {1} weak, because {2} lacks that version " +
            "(TorchSharp's native library only asks for it for an unused GCC 13 marker symbol). The NuGet cache is " +
            "not changed.",
            VersionName, path, libstdcxx);
    }

    // Offsets of vna_flags of every Vernaux entry named `name` in .gnu.version_r (ELF64 little-endian only).
    static List<int> FindVernauxFlags(byte[] elf, string name)
    {
        var result = new List<int>();
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException("not ELF64 little-endian");

        long shoff = (long)ReadU64(elf, 0x28);
        int shentsize = ReadU16(elf, 0x3A);
        long shnum = ReadU16(elf, 0x3C);
        if (shoff <= 0 || shentsize < 64)
            throw new InvalidDataException("no section headers");
        Check(elf, shoff, shentsize);
        if (shnum == 0) // more than 0xff00 sections: the real count is in section 0's sh_size
            shnum = (long)ReadU64(elf, shoff + 32);
        Check(elf, shoff, shnum * shentsize);

        byte[] want = Encoding.ASCII.GetBytes(name);
        for (long i = 0; i < shnum; i++)
        {
            long sh = shoff + i * shentsize;
            if (ReadU32(elf, sh + 4) != SHT_GNU_verneed)
                continue;

            long off = (long)ReadU64(elf, sh + 24);
            long size = (long)ReadU64(elf, sh + 32);
            uint link = ReadU32(elf, sh + 40);
            uint count = ReadU32(elf, sh + 44); // sh_info: number of Verneed entries
            Check(elf, off, size);
            if (link >= shnum)
                throw new InvalidDataException("bad sh_link of .gnu.version_r");
            long strSh = shoff + link * (long)shentsize;
            long strOff = (long)ReadU64(elf, strSh + 24);
            long strSize = (long)ReadU64(elf, strSh + 32);
            Check(elf, strOff, strSize);

            long vn = off;
            for (uint n = 0; n < count; n++)
            {
                Check(elf, vn, 16);
                if (vn + 16 > off + size)
                    throw new InvalidDataException("Verneed outside .gnu.version_r");
                int cnt = ReadU16(elf, vn + 2);
                long aux = vn + ReadU32(elf, vn + 8);
                for (int a = 0; a < cnt; a++)
                {
                    Check(elf, aux, 16);
                    if (aux + 16 > off + size)
                        throw new InvalidDataException("Vernaux outside .gnu.version_r");
                    uint nameOff = ReadU32(elf, aux + 8);
                    if (nameOff < strSize && NameEquals(elf, strOff + nameOff, strOff + strSize, want))
                        result.Add(checked((int)(aux + 4)));
                    uint next = ReadU32(elf, aux + 12);
                    if (next == 0)
                        break;
                    aux += next;
                }
                uint vnNext = ReadU32(elf, vn + 12);
                if (vnNext == 0)
                    break;
                vn += vnNext;
            }
        }
        return result;
    }

    static bool NameEquals(byte[] elf, long at, long end, byte[] want)
    {
        if (at + want.Length >= end)
            return false;
        for (int i = 0; i < want.Length; i++)
            if (elf[at + i] != want[i])
                return false;
        return elf[at + want.Length] == 0;
    }

    // The libstdc++.so.6 the loader would use: the one already mapped into this (dotnet) process,
    // since CoreCLR itself links against it; otherwise LD_LIBRARY_PATH and the usual system folders.
    static string FindLibStdCxx()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/maps"))
            {
                int slash = line.IndexOf('/');
                if (slash >= 0 && line.IndexOf("/libstdc++.so", slash, StringComparison.Ordinal) >= 0)
                    return line.Substring(slash).Trim();
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }

        var dirs = new List<string>();
        string ldPath = Environment.GetEnvironmentVariable("LD_LIBRARY_PATH");
        if (!string.IsNullOrEmpty(ldPath))
            dirs.AddRange(ldPath.Split(new[] { ':' }, StringSplitOptions.RemoveEmptyEntries));
        dirs.AddRange(
            new[] { "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib" });
        foreach (string dir in dirs)
        {
            string candidate = Path.Combine(dir, "libstdc++.so.6");
            if (File.Exists(candidate))
                return candidate;
        }
        return null;
    }

    // libstdc++ defines each version it provides as a NUL-terminated string in its dynamic string table.
    static bool HasVersion(string libstdcxx)
    {
        byte[] data = File.ReadAllBytes(libstdcxx);
        byte[] want = Encoding.ASCII.GetBytes("\0" + VersionName + "\0");
        for (int i = 0; i + want.Length <= data.Length; i++)
        {
            int j = 0;
            while (j < want.Length && data[i + j] == want[j])
                j++;
            if (j == want.Length)
                return true;
        }
        return false;
    }

    static void Check(byte[] elf, long offset, long length)
    {
        if (offset < 0 || length < 0 || offset > elf.Length || length > elf.Length - offset)
            throw new InvalidDataException("truncated ELF file");
    }

    static ushort ReadU16(byte[] b, long at) { Check(b, at, 2); return (ushort)(b[at] | b[at + 1] << 8); }
    static uint ReadU32(byte[] b, long at)
    {
        Check(b, at, 4);
        return (uint)(b[at] | b[at + 1] << 8 | b[at + 2] << 16 | b[at + 3] << 24);
    }
    static ulong ReadU64(byte[] b, long at) { return ReadU32(b, at) | (ulong)ReadU32(b, at + 4) << 32; }
    static void WriteU16(byte[] b, long at, ushort v) { Check(b, at, 2); b[at] = (byte)v; b[at + 1] = (byte)(v >> 8); }
}

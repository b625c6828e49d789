// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// The checkpoint folder: one file per generation, <c>epoch-NNNN.ckpt</c> (the epoch it follows), the two newest
    /// kept. A generation is written to a <c>.tmp</c> file, flushed to the disk, renamed into place and the folder
    /// flushed, so a crash at any point leaves the previous generation whole; a damaged generation is set aside as
    /// <c>.damaged</c> and the one before it used.
    /// </summary>
    internal sealed class CheckpointStore
    {
        /// <summary>
        /// Test hook: when set to an epoch, the writer of that epoch's checkpoint stops half way through the file,
        /// creates "&lt;file&gt;.tmp.paused" and waits forever (so that a test can kill it there).
        /// </summary>
        public const string PauseVariable = "MLFREEZING_TEST_PAUSE_CHECKPOINT_WRITE";

        private const string Extension = ".ckpt";
        private const int Generations = 2;
        private readonly Action<string> _log;

        public CheckpointStore(string folder, Action<string> log)
        {
            Folder = Path.GetFullPath(folder);
            _log = log;
        }

        public string Folder { get; }

        /// <summary>The generations present, newest first.</summary>
        public IReadOnlyList<(int Epoch, string Path)> Existing()
            => Directory.Exists(Folder)
                ? Directory.EnumerateFiles(Folder, "epoch-*" + Extension)
                    .Select(p => (Epoch: ParseEpoch(p), Path: p)).Where(g => g.Epoch >= 0)
                    .OrderByDescending(g => g.Epoch).ToList()
                : new List<(int, string)>();

        /// <summary>
        /// The sections of the newest generation that reads back whole (each damaged one renamed and logged by name),
        /// or null when there is none. Throws when generations exist but every one is damaged.
        /// </summary>
        public (string Path, Dictionary<string, byte[]> Sections)? LoadNewest()
        {
            var generations = Existing();
            var refused = new List<string>();
            foreach (var (_, path) in generations)
            {
                try
                {
                    return (path, CheckpointFile.Read(path));
                }
                catch (Exception ex) when (ex is InvalidDataException || ex is IOException)
                {
                    string reason = $"Checkpoint {Path.GetFileName(path)} is damaged ({ex.Message}); refused";
                    refused.Add(reason);
                    SetAside(path);
                    _log?.Invoke(reason + (path == generations[^1].Path ? "." : "; trying the previous generation."));
                }
            }
            if (refused.Count > 0)
                throw new InvalidDataException($"No usable checkpoint in {Folder}: {string.Join("; ", refused)}.");
            return null;
        }

        /// <summary>
        /// Writes the generation after <paramref name="epoch"/> atomically; returns its path and size.
        /// </summary>
        public (string Path, long Bytes) Write(int epoch, IReadOnlyList<(string Name, byte[] Bytes)> sections)
        {
            Directory.CreateDirectory(Folder);
            string name = $"epoch-{epoch.ToString("D4", CultureInfo.InvariantCulture)}{Extension}";
            string path = Path.Combine(Folder, name);
            string temp = path + ".tmp";
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            {
                CheckpointFile.Write(stream, sections, PauseHook(epoch, sections.Count, stream, temp));
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
            FlushFolder(Folder);
            long bytes = new FileInfo(path).Length;
            foreach (var (_, old) in Existing().Skip(Generations))
                File.Delete(old);
            return (path, bytes);
        }

        /// <summary>Removes what an interrupted write left (a partial <c>.tmp</c> file).</summary>
        public void RemoveLeftovers()
        {
            if (!Directory.Exists(Folder))
                return;
            foreach (var temp in Directory.EnumerateFiles(Folder, "epoch-*" + Extension + ".tmp*"))
            {
                _log?.Invoke($"Removing {Path.GetFileName(temp)}, left by an interrupted checkpoint write.");
                File.Delete(temp);
            }
        }

        private void SetAside(string path)
        {
            try
            {
                File.Move(path, path + ".damaged", overwrite: true);
            }
            catch (IOException)
            {
                // Left in place: it is refused again next time.
            }
        }

        private static int ParseEpoch(string path)
        {
            string name = Path.GetFileNameWithoutExtension(path);
            return name.StartsWith("epoch-", StringComparison.Ordinal)
                && int.TryParse(name.AsSpan(6), NumberStyles.None, CultureInfo.InvariantCulture, out int epoch)
                ? epoch : -1;
        }

        private static Action<int> PauseHook(int epoch, int sections, FileStream stream, string temp)
        {
            string value = Environment.GetEnvironmentVariable(PauseVariable);
            if (value == null || !int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int at)
                || at != epoch)
                return null;
            return section =>
            {
                if (section != sections / 2)
                    return;
                stream.Flush(flushToDisk: true);
                File.WriteAllText(temp + ".paused", stream.Length.ToString(CultureInfo.InvariantCulture));
                Thread.Sleep(Timeout.Infinite);
            };
        }

        // The rename itself reaches the disk only when the folder's entry does (POSIX); Windows needs nothing here.
        private static void FlushFolder(string folder)
        {
            if (OperatingSystem.IsWindows())
                return;
            int fd = Native.open(folder, 0 /* O_RDONLY */);
            if (fd < 0)
                return;
            Native.fsync(fd);
            Native.close(fd);
        }

        private static class Native
        {
            [DllImport("libc", SetLastError = true)]
            public static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

            [DllImport("libc", SetLastError = true)]
            public static extern int fsync(int fd);

            [DllImport("libc", SetLastError = true)]
            public static extern int close(int fd);
        }
    }
}

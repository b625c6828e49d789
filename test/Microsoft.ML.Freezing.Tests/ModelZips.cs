// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests
{
    /// <summary>Damaging saved ML.NET model zips on purpose, and reading the error that loading one gives.</summary>
    internal static class ModelZips
    {
        /// <summary>
        /// A copy of <paramref name="zip"/> in <paramref name="folder"/> whose entry named <paramref name="name"/> (or
        /// ending in "/name") is replaced by what <paramref name="change"/> makes of its bytes, or removed when that is
        /// null.
        /// </summary>
        public static string Rewrite(string zip, string folder, string name, Func<byte[], byte[]> change)
        {
            string copy = Path.Combine(folder, Guid.NewGuid().ToString("N") + ".zip");
            File.Copy(zip, copy);
            using var archive = ZipFile.Open(copy, ZipArchiveMode.Update);
            var entry = archive.Entries.Single(e => e.FullName.EndsWith("/" + name, StringComparison.Ordinal)
                || e.FullName == name);
            byte[] bytes;
            using (var s = entry.Open())
            using (var m = new MemoryStream())
            {
                s.CopyTo(m);
                bytes = m.ToArray();
            }
            string fullName = entry.FullName;
            entry.Delete();
            var replacement = change(bytes);
            if (replacement != null)
            {
                using var s = archive.CreateEntry(fullName).Open();
                s.Write(replacement);
            }
            return copy;
        }

        /// <summary>
        /// A copy of <paramref name="zip"/> in <paramref name="folder"/> with each entry passed through
        /// <paramref name="change"/> (given its name and bytes; null drops it).
        /// </summary>
        public static string RewriteEach(string zip, string folder, Func<string, byte[], byte[]> change)
        {
            string copy = Path.Combine(folder, Guid.NewGuid().ToString("N") + ".zip");
            using var archive = ZipFile.Open(copy, ZipArchiveMode.Create);
            foreach (var (name, bytes) in Entries(zip))
            {
                var changed = change(name, bytes);
                if (changed == null) continue;
                using var s = archive.CreateEntry(name).Open();
                s.Write(changed);
            }
            return copy;
        }

        /// <summary>Whether an entry is the Model.key of a part with signature <paramref name="signature"/>.</summary>
        public static bool IsModelKey(string name, byte[] bytes, string signature)
            => name.EndsWith("/Model.key", StringComparison.Ordinal) && bytes.Length > ModelSignatureOffset + 16
               && System.Text.Encoding.ASCII.GetString(bytes, ModelSignatureOffset, 8) == signature;

        /// <summary>A copy of a Model.key with its written and readable format versions set.</summary>
        public static byte[] WithVersions(byte[] modelKey, uint written, uint readable)
        {
            var copy = (byte[])modelKey.Clone();
            BitConverter.TryWriteBytes(copy.AsSpan(ModelVerWrittenOffset), written);
            BitConverter.TryWriteBytes(copy.AsSpan(ModelVerReadableOffset), readable);
            return copy;
        }

        /// <summary>The written format version of a Model.key.</summary>
        public static uint WrittenVersion(byte[] modelKey) => BitConverter.ToUInt32(modelKey, ModelVerWrittenOffset);

        // ML.NET's ModelHeader (Microsoft.ML.Core/Data/ModelHeader.cs): the model block's signature and versions.
        private const int ModelSignatureOffset = 0x40;
        private const int ModelVerWrittenOffset = 0x48;
        private const int ModelVerReadableOffset = 0x4C;

        /// <summary>Every entry of <paramref name="zip"/> with its bytes, in the archive's order.</summary>
        public static List<(string Name, byte[] Bytes)> Entries(string zip)
        {
            using var archive = ZipFile.OpenRead(zip);
            return archive.Entries.Select(e =>
            {
                using var s = e.Open();
                using var m = new MemoryStream();
                s.CopyTo(m);
                return (e.FullName, m.ToArray());
            }).ToList();
        }

        /// <summary>The bytes of the entry named <paramref name="name"/> (or ending in "/name").</summary>
        public static byte[] Entry(string zip, string name)
            => Entries(zip).Single(e => e.Name.EndsWith("/" + name, StringComparison.Ordinal) || e.Name == name).Bytes;

        /// <summary>The whole error (<c>ToString</c>: ML.NET wraps the diagnosis) of loading <paramref name="zip"/>;
        /// fails the test when it loads.</summary>
        public static string LoadError(MLContext ml, string zip)
        {
            try
            {
                (ml.Model.Load(zip, out _) as IDisposable)?.Dispose();
            }
            catch (Exception ex)
            {
                return ex.ToString();
            }
            Assert.Fail("the damaged model loaded");
            return null;
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests
{
    /// <summary>
    /// The style rules that no compiler checks and that slipped before: lines of at most 120 characters and this
    /// project's license header on every C# file of its own.
    /// </summary>
    [TestClass]
    public sealed class SourceStyleTests
    {
        private const int MaxLineLength = 120;
        private const string Header =
            "// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).";
        private static readonly string[] CodeExtensions = { ".cs", ".sh", ".py", ".csproj", ".props", ".targets" };
        private static readonly string[] SkippedFolders = { "bin", "obj", "artifacts", "TestResults", "node_modules" };

        [TestMethod]
        public void NoLineIsLongerThan120Characters()
        {
            var longLines = OwnFiles(CodeExtensions)
                .SelectMany(file => File.ReadAllLines(file)
                    .Select((line, index) => (file, line: index + 1, length: line.Length)))
                .Where(l => l.length > MaxLineLength)
                .Select(l => $"{Path.GetRelativePath(RepoPaths.Root, l.file)}:{l.line} ({l.length})")
                .ToList();
            Assert.IsGreaterThan(50, OwnFiles(CodeExtensions).Count(), "the scan found the sources");
            Assert.AreEqual(0, longLines.Count, "lines over 120 characters: " + string.Join(", ", longLines));
        }

        [TestMethod]
        public void EveryCSharpFileStartsWithTheLicenseHeader()
        {
            var missing = OwnFiles(new[] { ".cs" })
                .Where(file => File.ReadLines(file).FirstOrDefault() != Header)
                .Select(file => Path.GetRelativePath(RepoPaths.Root, file))
                .ToList();
            Assert.AreEqual(0, missing.Count, "C# files without the header: " + string.Join(", ", missing));
        }

        /// <summary>The repository's own files with the given extensions, build outputs and git's folder left
        /// out.</summary>
        private static IEnumerable<string> OwnFiles(string[] extensions)
        {
            var pending = new Stack<string>(new[] { RepoPaths.Root });
            while (pending.Count > 0)
            {
                string dir = pending.Pop();
                foreach (var sub in Directory.EnumerateDirectories(dir))
                {
                    string name = Path.GetFileName(sub);
                    if (!SkippedFolders.Contains(name) && !name.StartsWith('.'))
                        pending.Push(sub);
                }
                foreach (var file in Directory.EnumerateFiles(dir))
                {
                    if (extensions.Contains(Path.GetExtension(file), StringComparer.OrdinalIgnoreCase))
                        yield return file;
                }
            }
        }
    }
}

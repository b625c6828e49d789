// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests
{
    /// <summary>
    /// Generated or fetched test assets (weights, reference outputs, data sets) that live outside the repository, in
    /// the library's user-visible folder (<see cref="FreezingPaths"/>). A test that needs one calls
    /// <see cref="Require"/>: on a developer machine a missing asset skips the test (inconclusive, with how to get
    /// it); on CI (<c>CI=true</c>) it fails, so a skipped parity test never passes unnoticed.
    /// </summary>
    internal static class Assets
    {
        /// <summary>The root: <c>$FREEZING_HOME</c>, else <c>~/.cache/Microsoft.ML.Freezing</c>
        /// (<see cref="FreezingPaths.Home"/>).</summary>
        public static string Home => FreezingPaths.Home;

        /// <summary>An asset folder, <c>Home/assets/&lt;name&gt;</c> (<see cref="FreezingPaths.Asset"/>).</summary>
        public static string Folder(string name) => FreezingPaths.Asset(name);

        /// <summary>True on CI (<c>CI=true</c>), where a missing asset fails the test instead of skipping it.</summary>
        public static bool OnCi
            => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

        /// <summary>
        /// Returns <paramref name="path"/> when the file or folder exists; otherwise skips the test (throws
        /// <see cref="AssertInconclusiveException"/>), or fails it on CI. <paramref name="howToGet"/> says how to
        /// create the asset, e.g. "run eng/torchvision-references.sh".
        /// </summary>
        public static string Require(string path, string howToGet)
        {
            if (!File.Exists(path) && !Directory.Exists(path))
                CannotRun($"Test asset '{path}' is missing; {howToGet}.");
            return path;
        }

        /// <summary>
        /// What a test that cannot run on this machine does (an asset or a browser missing): skips (throws
        /// <see cref="AssertInconclusiveException"/>) on a developer machine, fails on CI.
        /// </summary>
        public static void CannotRun(string message)
        {
            if (OnCi)
                Assert.Fail(message + " (CI=true: that is a failure, not a skip.)");
            throw new AssertInconclusiveException("Skipped: " + message);
        }
    }
}

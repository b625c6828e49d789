using System;
using System.IO;

namespace Microsoft.ML.Freezing.Tests
{
    /// <summary>Locates the repository root (the folder with Freezing.sln) and shared/ beside it.</summary>
    internal static class RepoPaths
    {
        public static string Root { get; } = FindRoot();

        /// <summary>shared/ lies beside the repository (the project's shared data and docs).</summary>
        public static string Shared => Path.GetFullPath(Path.Combine(Root, "..", "shared"));

        private static string FindRoot()
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Freezing.sln")))
                    return dir.FullName;
            }
            throw new InvalidOperationException($"Freezing.sln not found above {AppContext.BaseDirectory}.");
        }
    }
}

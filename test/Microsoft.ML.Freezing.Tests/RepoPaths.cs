// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;

namespace Microsoft.ML.Freezing.Tests
{
    /// <summary>Locates the repository root (the folder with Freezing.sln).</summary>
    internal static class RepoPaths
    {
        public static string Root { get; } = FindRoot();

        /// <summary>
        /// ML.NET's ResNet18.onnx mapped by hand to torchvision names: ONNX initializer, torchvision key, shape (a
        /// fixture kept with the tests).
        /// </summary>
        public static string MLNetResNet18Mapping
            => Path.Combine(Root, "test", "Microsoft.ML.Freezing.Tests", "Weights",
            "Fixtures", "mlnet-resnet18-onnx-to-torchvision-names.tsv");

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

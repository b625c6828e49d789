// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests.Reliability
{
    /// <summary>A process that ends while the library still prepares its scoring engine in the background ends
    /// cleanly: it once died with SIGSEGV (exit 139) about every other time, when it exited while ONNX Runtime's
    /// environment was being created.</summary>
    [TestClass]
    public sealed class ProcessExitTests
    {
        [TestMethod]
        public void ProcessesThatExitRightAfterLoadingAModelExitCleanly()
        {
            string zip = TinyModel.Zip;
            for (int run = 0; run < 8; run++)
            {
                var (exitCode, output) = LoadCheckProcess.Run(zip, "--exit-after-load");
                Assert.AreEqual(0, exitCode, $"run {run}: {output}");
                StringAssert.Contains(output, "loaded");
            }
        }
    }
}

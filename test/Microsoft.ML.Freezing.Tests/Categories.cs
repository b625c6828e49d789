// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

namespace Microsoft.ML.Freezing.Tests
{
    /// <summary>Test categories (<c>dotnet test --filter TestCategory=...</c>).</summary>
    internal static class Categories
    {
        /// <summary>
        /// Tests whose result depends on which CPU kernels compute: eng/test.sh runs them a second time with oneDNN,
        /// ATen and MKL capped at AVX2, so an assumption about one machine's kernels fails on any machine.
        /// </summary>
        public const string Numerical = "Numerical";
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;

namespace Microsoft.ML.Freezing.Benchmarks
{
    /// <summary>
    /// The asset folders that the repository's <c>eng/fetch-*.sh</c> scripts fill: <c>assets/&lt;name&gt;</c> under
    /// <c>$FREEZING_HOME</c>, else <c>$XDG_CACHE_HOME/Microsoft.ML.Freezing</c>, else
    /// <c>~/.cache/Microsoft.ML.Freezing</c>.
    /// </summary>
    internal static class BenchPaths
    {
        public static string Asset(string name)
        {
            string home = Environment.GetEnvironmentVariable("FREEZING_HOME");
            if (string.IsNullOrEmpty(home))
            {
                string cache = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
                if (string.IsNullOrEmpty(cache))
                    cache = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
                home = Path.Combine(cache, "Microsoft.ML.Freezing");
            }
            return Path.Combine(home, "assets", name);
        }
    }
}

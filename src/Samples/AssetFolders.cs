// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;

namespace Samples
{
    /// <summary>
    /// Where the sample keeps its data sets, the folder the repository's <c>eng/fetch-*.sh</c> scripts fill:
    /// <c>$FREEZING_HOME</c>, else <c>$XDG_CACHE_HOME/Microsoft.ML.Freezing</c>, else
    /// <c>~/.cache/Microsoft.ML.Freezing</c>, each with <c>assets/&lt;name&gt;</c> below it (the library caches its
    /// converted weights under the same root).
    /// </summary>
    public static class AssetFolders
    {
        /// <summary>The root folder (not created here); the system's temporary folder when there is no home.</summary>
        public static string Home
        {
            get
            {
                string home = Environment.GetEnvironmentVariable("FREEZING_HOME");
                if (!string.IsNullOrEmpty(home))
                    return home;
                string cache = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
                string profile = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
                if (string.IsNullOrEmpty(cache) && string.IsNullOrEmpty(profile)) // as the library does
                    return Path.Combine(Path.GetTempPath(), $"Microsoft.ML.Freezing-{Environment.UserName}");
                if (string.IsNullOrEmpty(cache))
                    cache = Path.Combine(profile, ".cache");
                return Path.Combine(cache, "Microsoft.ML.Freezing");
            }
        }

        /// <summary>A data set's or model's folder: <c>Home/assets/&lt;name&gt;</c>.</summary>
        public static string Asset(string name) => Path.Combine(Home, "assets", name);
    }
}

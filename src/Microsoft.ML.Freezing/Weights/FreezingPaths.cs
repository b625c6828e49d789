// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// The user-visible folder where the library and the scripts in <c>eng/</c> keep fetched assets and converted
    /// weights: <c>$FREEZING_HOME</c>, else <c>$XDG_CACHE_HOME/Microsoft.ML.Freezing</c>, else
    /// <c>~/.cache/Microsoft.ML.Freezing</c>; without a home folder, <see cref="TemporaryHome"/>.
    /// </summary>
    internal static class FreezingPaths
    {
        /// <summary>The root folder (not created here).</summary>
        public static string Home
        {
            get
            {
                string home = Environment.GetEnvironmentVariable("FREEZING_HOME");
                if (!string.IsNullOrEmpty(home))
                    return home;
                string xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
                string profile = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
                if (string.IsNullOrEmpty(xdg) && string.IsNullOrEmpty(profile))
                    return TemporaryHome; // never a path relative to the working folder
                string cache = string.IsNullOrEmpty(xdg) ? Path.Combine(profile, ".cache") : xdg;
                return Path.Combine(cache, "Microsoft.ML.Freezing");
            }
        }

        /// <summary>
        /// <c>Microsoft.ML.Freezing-USER</c> in the system's temporary folder: the root used when the home folder is
        /// missing or read-only (per user, so that one user's folder does not block another's).
        /// </summary>
        public static string TemporaryHome
            => Path.Combine(Path.GetTempPath(), $"Microsoft.ML.Freezing-{Environment.UserName}");

        /// <summary>Converted weights (<see cref="WeightCache"/>).</summary>
        public static string Weights => Path.Combine(Home, "weights");

        /// <summary>Fetched assets: <c>assets/&lt;name&gt;</c> (Keras weights, data sets, reference outputs).</summary>
        public static string Asset(string name) => Path.Combine(Home, "assets", name);
    }
}

using System;
using System.IO;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// The user-visible folder where the library and the scripts in <c>eng/</c> keep fetched assets and converted
    /// weights: <c>$FREEZING_HOME</c>, else <c>$XDG_CACHE_HOME/Microsoft.ML.Freezing</c>, else
    /// <c>~/.cache/Microsoft.ML.Freezing</c>.
    /// </summary>
    public static class FreezingPaths
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
                string cache = string.IsNullOrEmpty(xdg)
                    ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache")
                    : xdg;
                return Path.Combine(cache, "Microsoft.ML.Freezing");
            }
        }

        /// <summary>Converted weights (<see cref="WeightCache"/>).</summary>
        public static string Weights => Path.Combine(Home, "weights");

        /// <summary>Fetched assets: <c>assets/&lt;name&gt;</c> (Keras weights, data sets, reference outputs).</summary>
        public static string Asset(string name) => Path.Combine(Home, "assets", name);
    }
}

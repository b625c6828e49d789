// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;

namespace Samples
{
    /// <summary>Writing a data set's image folder once, so that a reader never sees half of it.</summary>
    public static class ImageAssets
    {
        /// <summary>
        /// Runs <paramref name="write"/> on a temporary folder beside <paramref name="images"/>, then renames it; when
        /// another process renamed its own copy first, that one (the same images) is kept.
        /// </summary>
        public static void WriteOnce(string images, Action<string> write)
        {
            string temp = images + ".tmp-" + Guid.NewGuid().ToString("N");
            try
            {
                write(temp);
                try
                {
                    Directory.Move(temp, images);
                }
                catch (IOException) when (Directory.Exists(images))
                {
                    // Another process finished first; its images are the same.
                }
            }
            finally
            {
                if (Directory.Exists(temp))
                    Directory.Delete(temp, recursive: true);
            }
        }
    }
}

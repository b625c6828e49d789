// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Freezing;

namespace Samples
{
    /// <summary>An image file and its class (the name of the folder it lies in).</summary>
    public sealed record LabelledImage(string Path, string Label);

    /// <summary>
    /// Model Builder's image-folder layout: one subfolder per class, named after it, holding that class's images (in
    /// any depth of further subfolders). Lists, shuffles and splits the files; the bytes are read only when ML.NET
    /// enumerates the rows, so a large folder is never held in memory as encoded files.
    /// </summary>
    public static class ImageFolder
    {
        /// <summary>The file extensions read as images (case-insensitive).</summary>
        public static readonly IReadOnlyCollection<string> Extensions = new HashSet<string>(
            StringComparer.OrdinalIgnoreCase)
            { ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp" };

        /// <summary>Whether the file name has one of the <see cref="Extensions"/>.</summary>
        public static bool IsImage(string path) => Extensions.Contains(Path.GetExtension(path));

        /// <summary>
        /// The images of a folder with one subfolder per class, in a fixed order (class, then path, ordinal). Needs
        /// <paramref name="minimumClasses"/> classes with images (training needs two; evaluating a model, one); images
        /// directly in <paramref name="folder"/> belong to no class, and class folders without images are left out;
        /// both are reported, as are hidden entries left out.
        /// </summary>
        public static List<LabelledImage> ReadLabelled(string folder, string command, int minimumClasses = 2)
        {
            if (!Directory.Exists(folder))
                throw new UsageException($"{command}: the data folder '{folder}' does not exist.");
            var images = new List<LabelledImage>();
            foreach (var classFolder in Directory.GetDirectories(folder).Where(d => !IsHidden(Path.GetFileName(d)))
                .OrderBy(d => d, StringComparer.Ordinal))
            {
                string label = Path.GetFileName(classFolder);
                var files = VisibleImages(classFolder, SearchOption.AllDirectories);
                if (files.Count == 0)
                    Console.WriteLine($"Note: the class folder '{label}' holds no images; it is left out.");
                images.AddRange(files.Select(f => new LabelledImage(f, label)));
            }
            int loose = VisibleImages(folder, SearchOption.TopDirectoryOnly).Count;
            if (loose > 0)
                Console.WriteLine(
                    $"Note: {loose} images lie directly in '{folder}' and belong to no class folder; they are not " +
                    "used.");
            ReportHidden(folder);
            var classes = images.Select(i => i.Label).Distinct().Count();
            if (classes < minimumClasses)
                throw new UsageException($"{command}: '{folder}' needs at least {minimumClasses} class " +
                    $"subfolder{(minimumClasses > 1 ? "s" : "")} with images ({string.Join("/", Extensions)}); " +
                    $"found {classes}.");
            return images;
        }

        /// <summary>One file, or every image under a folder (ordinal path order; hidden entries left out).</summary>
        public static List<string> List(string fileOrFolder, string command)
        {
            if (File.Exists(fileOrFolder))
                return new List<string> { fileOrFolder };
            if (!Directory.Exists(fileOrFolder))
                throw new UsageException($"{command}: '{fileOrFolder}' is neither an image file nor a folder.");
            var files = VisibleImages(fileOrFolder, SearchOption.AllDirectories);
            ReportHidden(fileOrFolder);
            if (files.Count == 0)
                throw new UsageException(
                    $"{command}: no images ({string.Join("/", Extensions)}) under '{fileOrFolder}'.");
            return files;
        }

        // What a user did not put there as data: hidden files and folders ('.DS_Store', the '._name' companions that
        // macOS writes beside each file on other file systems) and the '__MACOSX' folder that macOS's zip adds.
        private static bool IsHidden(string name) => name.StartsWith('.') || name == "__MACOSX";

        private static bool UnderHidden(string root, string path)
            => Path.GetRelativePath(root, path).Split(Path.DirectorySeparatorChar).Any(IsHidden);

        private static List<string> VisibleImages(string folder, SearchOption option)
            => Directory.EnumerateFiles(folder, "*", option)
                .Where(f => IsImage(f) && !UnderHidden(folder, f))
                .OrderBy(f => f, StringComparer.Ordinal)
                .ToList();

        private static void ReportHidden(string folder)
        {
            int hidden = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
                .Count(f => IsImage(f) && UnderHidden(folder, f));
            if (hidden > 0)
                Console.WriteLine($"Note: {hidden} image files under '{folder}' are hidden (a name that starts with " +
                    "'.', or under '__MACOSX'); they are left out.");
        }

        /// <summary>A seeded Fisher-Yates shuffle (a new list).</summary>
        public static List<T> Shuffle<T>(IEnumerable<T> items, int seed)
        {
            var list = items.ToList();
            var random = new Random(seed);
            for (int i = list.Count - 1; i > 0; i--)
            {
                int j = random.Next(i + 1);
                (list[i], list[j]) = (list[j], list[i]);
            }
            return list;
        }

        /// <summary>
        /// Splits shuffled images per class: round(fraction × class size) of each class go to validation (at least
        /// one, and never the class's last image, when the fraction is positive). Both parts keep the shuffled order.
        /// </summary>
        public static (List<LabelledImage> Train,
            List<LabelledImage> Validation) StratifiedSplit(IReadOnlyList<LabelledImage> shuffled, double fraction)
        {
            var quota = shuffled.GroupBy(i => i.Label).ToDictionary(g => g.Key, g =>
            {
                int n = g.Count();
                return fraction <= 0 || n < 2 ? 0 : Math.Clamp((int)Math.Round(n * fraction), 1, n - 1);
            });
            var train = new List<LabelledImage>();
            var validation = new List<LabelledImage>();
            foreach (var image in shuffled)
            {
                if (quota[image.Label] > 0)
                {
                    quota[image.Label]--;
                    validation.Add(image);
                }
                else
                    train.Add(image);
            }
            return (train, validation);
        }

        /// <summary>Model Builder's input rows; each enumeration reads the files anew.</summary>
        public static IEnumerable<ConsumptionExample.ModelInput> Rows(IReadOnlyList<LabelledImage> images)
        {
            foreach (var image in images)
                yield return new ConsumptionExample.ModelInput { ImageSource = File.ReadAllBytes(image.Path),
                    Label = image.Label };
        }

        /// <summary>
        /// When <paramref name="error"/> is the library's <see cref="InvalidImageException"/>, a message that names the
        /// file of the row it reports. <paramref name="imagesOf"/> gives the list whose rows the view enumerated, from
        /// the error's <see cref="InvalidImageException.Role"/>.
        /// </summary>
        public static bool TryNameFile(Exception error, Func<DataRole, IReadOnlyList<LabelledImage>> imagesOf,
            out string message)
        {
            message = null;
            var invalid = InvalidImageException.Find(error);
            if (invalid == null)
                return false;
            var images = imagesOf(invalid.Role);
            if (images == null || invalid.Row < 0 || invalid.Row >= images.Count)
                return false;
            string role = invalid.Role == DataRole.Scoring ? "" : $" ({Describe(invalid.Role)})";
            message = $"Cannot read the image '{images[(int)invalid.Row].Path}'{role}: {invalid.Message}";
            return true;
        }

        private static string Describe(DataRole role)
            => role == DataRole.Validation ? "validation set" : "training data";

        /// <summary>"cat 800, dog 800".</summary>
        public static string Counts(IEnumerable<LabelledImage> images)
            => string.Join(", ",
                images.GroupBy(i => i.Label).OrderBy(g => g.Key, StringComparer.Ordinal)
                .Select(g => $"{g.Key} {g.Count()}"));
    }
}

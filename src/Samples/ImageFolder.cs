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
            var (files, hidden) = Scan(folder);
            var placed = files.Select(f => (Path: f, Parts: Path.GetRelativePath(folder, f).Split(
                Path.DirectorySeparatorChar))).ToList();
            var images = placed.Where(p => p.Parts.Length > 1).Select(p => new LabelledImage(p.Path, p.Parts[0]))
                .OrderBy(i => i.Label, StringComparer.Ordinal).ThenBy(i => i.Path, StringComparer.Ordinal).ToList();
            var labels = images.Select(i => i.Label).ToHashSet(StringComparer.Ordinal);
            foreach (var empty in Directory.GetDirectories(folder).Select(Path.GetFileName)
                .Where(n => !IsHidden(n) && !labels.Contains(n)).Order(StringComparer.Ordinal))
                Console.WriteLine($"Note: the class folder '{empty}' holds no images; it is left out.");
            int loose = placed.Count(p => p.Parts.Length == 1);
            if (loose > 0)
                Console.WriteLine(
                    $"Note: {loose} images lie directly in '{folder}' and belong to no class folder; they are not " +
                    "used.");
            ReportHidden(folder, hidden);
            if (labels.Count < minimumClasses)
                throw new UsageException($"{command}: '{folder}' needs at least {minimumClasses} class " +
                    $"subfolder{(minimumClasses > 1 ? "s" : "")} with images ({string.Join("/", Extensions)}); " +
                    $"found {labels.Count}.");
            return images;
        }

        /// <summary>One file, or every image under a folder (ordinal path order; hidden entries left out).</summary>
        public static List<string> List(string fileOrFolder, string command)
        {
            if (File.Exists(fileOrFolder))
                return new List<string> { fileOrFolder };
            if (!Directory.Exists(fileOrFolder))
                throw new UsageException($"{command}: '{fileOrFolder}' is neither an image file nor a folder.");
            var (files, hidden) = Scan(fileOrFolder);
            ReportHidden(fileOrFolder, hidden);
            if (files.Count == 0)
                throw new UsageException(
                    $"{command}: no images ({string.Join("/", Extensions)}) under '{fileOrFolder}'.");
            return files;
        }

        // What a user did not put there as data: hidden files and folders ('.DS_Store', the '._name' companions that
        // macOS writes beside each file on other file systems) and the '__MACOSX' folder that macOS's zip adds.
        private static bool IsHidden(string name) => name.StartsWith('.') || name == "__MACOSX";

        // Every image under the folder in ordinal path order, and how many of them were left out as hidden: one walk.
        private static (List<string> Visible, int Hidden) Scan(string folder)
        {
            var visible = new List<string>();
            int hidden = 0;
            foreach (var file in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Where(IsImage))
            {
                if (Path.GetRelativePath(folder, file).Split(Path.DirectorySeparatorChar).Any(IsHidden))
                    hidden++;
                else
                    visible.Add(file);
            }
            visible.Sort(StringComparer.Ordinal);
            return (visible, hidden);
        }

        private static void ReportHidden(string folder, int hidden)
        {
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

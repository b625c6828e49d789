// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Freezing.Tests.MLNet;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static Microsoft.ML.Freezing.Tests.Images.TestImages;

namespace Microsoft.ML.Freezing.Tests.Reliability
{
    /// <summary>
    /// Bad images as encoded bytes, in training and prediction: each is converted (with the pixels checked) or rejected
    /// with an error that names the row; InvalidImagePolicy.Skip counts them instead.
    /// </summary>
    [TestClass]
    public sealed class BadImageTests
    {
        [TestMethod]
        public void DecoderRejectsEachBadImageWithItsReason()
        {
            var preprocessing = ImagePreprocessing.ImageNet(32);
            foreach (var bad in BadImages.AllRejected())
            {
                var error = Assert.ThrowsExactly<InvalidDataException>(() => preprocessing.DecodeAndResize(bad.Bytes),
                    bad.Name);
                StringAssert.Contains(error.Message, bad.Reason, $"{bad.Name}: {error.Message}");
                Console.WriteLine($"{bad.Name}: {error.Message}");
            }
        }

        [TestMethod]
        public void GrayscaleRgbaCmyk16BitPaletteAndOnePixelImagesAreConverted()
        {
            foreach (var image in BadImages.AllConverted())
            {
                var rgb = image.Preprocessing.DecodeAndResize(image.Bytes);
                int side = image.Preprocessing.ImageSize;
                Assert.HasCount(side * side * 3, rgb, image.Name);
                foreach (var (x, y, r, g, b) in image.Expected)
                {
                    var actual = At(rgb, side, x, y);
                    bool near = Math.Abs(actual.R - r) <= image.Tolerance && Math.Abs(actual.G - g) <= image.Tolerance
                        && Math.Abs(actual.B - b) <= image.Tolerance;
                    Assert.IsTrue(near, $"{image.Name} at ({x}, {y}): {actual}, expected ({r}, {g}, {b})");
                }
            }
        }

        [TestMethod]
        public void HeaderClaiming30000x30000IsRejectedWithoutAllocatingItsPixels()
        {
            var preprocessing = ImagePreprocessing.ImageNet(32);
            var huge = BadImages.AllRejected().Where(b => b.Name.Contains("30000x30000")).ToList();
            Assert.HasCount(4, huge);
            ProcessMemory.Settle();
            bool peakKnown = ProcessMemory.ResetPeak();
            long before = ProcessMemory.Resident();
            foreach (var bad in huge)
            {
                var error = Assert.ThrowsExactly<InvalidDataException>(() => preprocessing.DecodeAndResize(bad.Bytes),
                    bad.Name);
                StringAssert.Contains(error.Message, "30000x30000", bad.Name);
                StringAssert.Contains(error.Message, "ImagePreprocessing.MaxSourcePixels", bad.Name);
            }
            // Decoding one of them would need 30000 x 30000 x 4 bytes = 3.4 GiB.
            long grown = (peakKnown ? ProcessMemory.Peak() : ProcessMemory.Resident()) - before;
            Console.WriteLine(
                $"{(peakKnown ? "peak" : "resident")} memory grew by {ProcessMemory.Mb(grown)} while rejecting " +
                $"{huge.Count} headers");
            Assert.IsLessThan(32L << 20, grown, $"memory jumped by {ProcessMemory.Mb(grown)}");
        }

        [TestMethod]
        public void BadImageStopsTrainingWithItsColumnAndRow()
        {
            var ml = new MLContext(seed: 1);
            foreach (var bad in BadImages.AllRejected())
            {
                var rows = GeneratedImages.Stripes(10, seed: 3);
                rows[7].ImageSource = bad.Bytes;
                int batches = 0;
                var options = TinyModel.Options();
                options.BatchCallback = _ => batches++;
                var error = Assert.ThrowsExactly<InvalidImageException>(
                    () => TinyModel.Pipeline(ml, options).Fit(ml.Data.LoadFromEnumerable(rows)), bad.Name);
                StringAssert.StartsWith(error.Message, "Column 'ImageSource', row 7: ", bad.Name);
                StringAssert.Contains(error.Message, bad.Reason, bad.Name);
                Assert.AreEqual(("ImageSource", 7L, (string)null), (error.Column, error.Row, error.ImagePath),
                    bad.Name);
                Assert.AreEqual(0, batches, $"{bad.Name}: training started");
            }
        }

        [TestMethod]
        public void TheFirstBadRowIsTheOneNamedThoughImagesAreDecodedInParallel()
        {
            // Training reads rows on one thread and decodes them in chunks on several: a row whose bytes fail early
            // (empty: refused on the cursor's thread) must not hide an earlier row whose bytes fail to decode.
            var ml = new MLContext(seed: 1);
            var rows = GeneratedImages.Stripes(100, seed: 3);
            rows[70].ImageSource = Encoding.ASCII.GetBytes("not an image");
            rows[71].ImageSource = Array.Empty<byte>();
            rows[90].ImageSource = Encoding.ASCII.GetBytes("not an image either");
            var error = Assert.ThrowsExactly<InvalidImageException>(
                () => TinyModel.Pipeline(ml, TinyModel.Options()).Fit(ml.Data.LoadFromEnumerable(rows)));
            Assert.AreEqual((70L, DataRole.Training), (error.Row, error.Role), error.Message);

            var options = TinyModel.Options();
            options.InvalidImagePolicy = InvalidImagePolicy.Skip;
            options.Epochs = 1;
            using var model = TinyModel.Pipeline(ml, options).Fit(ml.Data.LoadFromEnumerable(rows));
            Assert.AreEqual(3, model.LastTransformer.History.Single().SkippedInvalidImages);
        }

        [TestMethod]
        public void BadImageErrorSaysWhichOfTheTrainersInputsHoldsTheRow()
        {
            // Row 2 exists in both views: only the data name tells a caller which file to blame.
            var ml = new MLContext(seed: 1);
            var keys = ml.Transforms.Conversion.MapValueToKey("Label");
            var good = GeneratedImages.Stripes(10, seed: 3);
            var badValidation = GeneratedImages.Stripes(6, seed: 5);
            badValidation[2].ImageSource = Encoding.ASCII.GetBytes("not an image");
            var options = TinyModel.Options();
            var train = ml.Data.LoadFromEnumerable(good);
            options.ValidationSet = keys.Fit(train).Transform(ml.Data.LoadFromEnumerable(badValidation));
            var error = Assert.ThrowsExactly<InvalidImageException>(
                () => keys.Append(ml.MulticlassClassification.Trainers.FrozenResNet(options)).Fit(train));
            Assert.AreEqual((2L, DataRole.Validation), (error.Row, error.Role), error.Message);

            var badTrain = GeneratedImages.Stripes(10, seed: 3);
            badTrain[2].ImageSource = Encoding.ASCII.GetBytes("not an image");
            options = TinyModel.Options();
            error = Assert.ThrowsExactly<InvalidImageException>(
                () => TinyModel.Pipeline(ml, options).Fit(ml.Data.LoadFromEnumerable(badTrain)));
            Assert.AreEqual((2L, DataRole.Training), (error.Row, error.Role), error.Message);
        }

        [TestMethod]
        public void BadImageInPredictionNamesItsRowAndConvertedImagesScore()
        {
            var ml = new MLContext(seed: 1);
            var model = ml.Model.Load(TinyModel.Zip, out _);
            try
            {
                var good = GeneratedImages.Stripes(4, seed: 4);
                foreach (var bad in BadImages.AllRejected())
                {
                    var rows = good.Select(r => new ModelInput { ImageSource = r.ImageSource, Label = r.Label })
                        .ToList();
                    rows[2].ImageSource = bad.Bytes;
                    var scored = model.Transform(ml.Data.LoadFromEnumerable(rows));
                    var batched = Assert.ThrowsExactly<InvalidImageException>(
                        () => scored.GetColumn<float[]>("Score").ToArray(), bad.Name);
                    StringAssert.StartsWith(batched.Message, "Column 'ImageSource', row 2: ", bad.Name);

                    using var engine = TinyModel.Engine(ml, model);
                    var single = Assert.ThrowsExactly<InvalidImageException>(() => engine.Predict(rows[2]), bad.Name);
                    StringAssert.StartsWith(single.Message, "Column 'ImageSource', row ", bad.Name);
                    StringAssert.Contains(single.Message, bad.Reason, bad.Name);
                    Assert.AreEqual((DataRole.Scoring, DataRole.Scoring), (batched.Role, single.Role), bad.Name);
                    var wrapped = new InvalidOperationException("wrapped", single);
                    Assert.AreSame(single, InvalidImageException.Find(wrapped));
                    Console.WriteLine($"{bad.Name}: Transform: {batched.Message} PredictionEngine: {single.Message}");
                }

                using var converted = TinyModel.Engine(ml, model);
                foreach (var image in BadImages.AllConverted())
                {
                    var scores = converted.Predict(new ModelInput { ImageSource = image.Bytes, Label = "horizontal" })
                        .Score;
                    Assert.IsTrue(scores.Length == 2 && scores.All(float.IsFinite) && Math.Abs(scores.Sum() - 1) < 1e-4,
                        image.Name);
                }
            }
            finally
            {
                (model as IDisposable)?.Dispose();
            }
        }

        [TestMethod]
        public void SkipPolicyLeavesBadRowsOutAndCountsThemInTheHistoryAndTheLog()
        {
            var ml = new MLContext(seed: 1);
            var log = new List<string>();
            ml.Log += (_, e) => { lock (log) log.Add(e.Message); };
            var rejected = BadImages.AllRejected();
            var rows = GeneratedImages.Stripes(16, seed: 5);
            rows.AddRange(
                BadImages.AllConverted()
                .Select((c, i) => new ModelInput { ImageSource = c.Bytes, Label = GeneratedImages.Classes[i % 2] }));
            rows.AddRange(
                rejected.Select(
                (b, i) => new ModelInput { ImageSource = b.Bytes, Label = GeneratedImages.Classes[i % 2] }));
            var validationRows = GeneratedImages.Stripes(4, seed: 6);
            validationRows[1].ImageSource = rejected[0].Bytes;
            validationRows[3].ImageSource = rejected[3].Bytes;

            var data = ml.Data.LoadFromEnumerable(rows);
            var keys = ml.Transforms.Conversion.MapValueToKey("Label").Fit(data);
            var options = TinyModel.Options(epochs: 2);
            options.InvalidImagePolicy = InvalidImagePolicy.Skip;
            options.ValidationSet = keys.Transform(ml.Data.LoadFromEnumerable(validationRows));
            var seen = new List<int>();
            options.MetricsCallback = r => seen.Add(r.SkippedInvalidImages);
            using var model = ml.MulticlassClassification.Trainers.FrozenResNet(options).Fit(keys.Transform(data));

            int expected = rejected.Count + 2;
            CollectionAssert.AreEqual(new[] { expected, expected },
                model.History.Select(h => h.SkippedInvalidImages).ToArray());
            CollectionAssert.AreEqual(new[] { expected, expected }, seen.ToArray(), "MetricsCallback sees the count");
            string training = log.SingleOrDefault(
                l => l.Contains($"Skipped {rejected.Count} rows of the training data whose image could not be read"));
            Assert.IsNotNull(training, string.Join("\n", log));
            StringAssert.Contains(training, $"Column 'ImageSource', row {16 + BadImages.AllConverted().Count}: ");
            Assert.IsTrue(log.Any(l => l.Contains("Skipped 2 rows of the validation set")), string.Join("\n", log));

            // The count survives save and load.
            var stream = new MemoryStream();
            ml.Model.Save(model, data.Schema, stream);
            stream.Position = 0;
            var loaded = ml.Model.Load(stream, out _);
            Assert.IsTrue(((FrozenResNetTransformer)loaded).History.All(h => h.SkippedInvalidImages == expected));
            (loaded as IDisposable)?.Dispose();
        }

        [TestMethod]
        public void SkipPolicyWithNoValidImageLeftFailsNamingTheFirstReason()
        {
            var ml = new MLContext(seed: 1);
            var rows = BadImages.AllRejected()
                .Select((b, i) => new ModelInput { ImageSource = b.Bytes, Label = GeneratedImages.Classes[i % 2] });
            var options = TinyModel.Options();
            options.InvalidImagePolicy = InvalidImagePolicy.Skip;
            var error = Assert.ThrowsExactly<InvalidDataException>(
                () => TinyModel.Pipeline(ml, options).Fit(ml.Data.LoadFromEnumerable(rows)));
            StringAssert.Contains(error.Message, "Every labelled row of the training data (9) has an invalid image");
            StringAssert.Contains(error.Message, "First: Column 'ImageSource', row 0: the image bytes are empty.");
        }

        [TestMethod]
        public void ImagesReadFromDiskAreNamedByRowSoTheCallerCanNameTheFile()
        {
            // The images come from files; a caller maps the row in the error back to its file (the sample does this).
            var ml = new MLContext(seed: 1);
            string folder = Path.Combine(TinyModel.Folder, "disk-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(folder);
            var stripes = GeneratedImages.Stripes(6, seed: 8);
            var files = stripes.Select((r, i) => new FileRow { ImagePath = $"{i:00}.png", Label = r.Label }).ToList();
            for (int i = 0; i < files.Count; i++)
                File.WriteAllBytes(Path.Combine(folder, files[i].ImagePath), stripes[i].ImageSource);
            files[4].ImagePath = "cat.jpg";
            File.WriteAllText(Path.Combine(folder, "cat.jpg"), "This is the caption of cat.jpg, not the picture.");
            var data = ml.Data.LoadFromEnumerable(files);

            // LoadRawImageBytes reads the bytes; the trainer's decoder rejects them.
            var options = TinyModel.Options();
            options.FeatureColumnName = "Bytes";
            var bytesPipeline = ml.Transforms.LoadRawImageBytes("Bytes", folder, "ImagePath")
                .Append(TinyModel.Pipeline(ml, options));
            var error = Assert.ThrowsExactly<InvalidImageException>(() => bytesPipeline.Fit(data));
            Assert.AreEqual("cat.jpg", files[(int)error.Row].ImagePath, error.Message);
            StringAssert.Contains(error.Message, "not a decodable image");

            // LoadImages decodes itself and throws without the path or the row; the trainer adds the row.
            options.FeatureColumnName = "Image";
            var imagePipeline = ml.Transforms.LoadImages("Image", folder, "ImagePath")
                .Append(TinyModel.Pipeline(ml, options));
            error = Assert.ThrowsExactly<InvalidImageException>(() => imagePipeline.Fit(data));
            Assert.AreEqual(("Image", "cat.jpg"), (error.Column, files[(int)error.Row].ImagePath), error.Message);
            StringAssert.Contains(error.Message, "the image could not be read (ArgumentException");

            // And with Skip, the file is left out and counted.
            options.InvalidImagePolicy = InvalidImagePolicy.Skip;
            using var model = ml.Transforms.LoadImages("Image", folder, "ImagePath")
                .Append(TinyModel.Pipeline(ml, options)).Fit(data);
            Assert.AreEqual(1, model.LastTransformer.LastTransformer.History.Single().SkippedInvalidImages);
        }

        private sealed class FileRow
        {
            public string ImagePath { get; set; }
            public string Label { get; set; }
        }
    }
}

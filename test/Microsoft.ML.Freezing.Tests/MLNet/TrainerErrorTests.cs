// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests.MLNet
{
    /// <summary>Bad input gets an error that names the problem (column, row).</summary>
    [TestClass]
    public sealed class TrainerErrorTests
    {
        private static readonly MLContext Ml = new MLContext(seed: 1);

        private static FrozenResNetTrainer Trainer(IDataView validation = null)
            => Ml.MulticlassClassification.Trainers.FrozenResNet(
            new FrozenResNetTrainer.Options
            {
                FeatureColumnName = "ImageSource", ImageSize = 32, Epochs = 1, BatchSize = 8,
                ValidationSet = validation,
                PretrainedWeights = PretrainedWeights.None, ValidationFraction = 0,
            });

        private static IDataView Keyed(IDataView data)
            => Ml.Transforms.Conversion.MapValueToKey("Label").Fit(data).Transform(data);

        private static Exception Fails(Action action)
        {
            try
            {
                action();
            }
            catch (Exception ex)
            {
                return ex;
            }
            Assert.Fail("expected an exception");
            return null;
        }

        [TestMethod]
        public void EmptyDataIsRejected()
        {
            var data = Ml.Data.LoadFromEnumerable(GeneratedImages.Stripes(4, 1).Take(0));
            var keyed = Ml.Transforms.Conversion.MapValueToKey("Label")
                .Fit(Ml.Data.LoadFromEnumerable(GeneratedImages.Stripes(4, 1))).Transform(data);
            StringAssert.Contains(Fails(() => Trainer().Fit(keyed)).Message, "has no rows");
        }

        [TestMethod]
        public void OneClassIsRejected()
        {
            var rows = GeneratedImages.Stripes(6, 1).Where(r => r.Label == "vertical").ToList();
            var message = Fails(() => Trainer().Fit(Keyed(Ml.Data.LoadFromEnumerable(rows)))).Message;
            StringAssert.Contains(message, "only one class");
            StringAssert.Contains(message, "'vertical'");
        }

        [TestMethod]
        public void LabelThatIsNotAKeyIsRejected()
        {
            var data = Ml.Data.LoadFromEnumerable(GeneratedImages.Stripes(6, 1));
            var message = Fails(() => Trainer().Fit(data)).Message;
            StringAssert.Contains(message, "Label column 'Label' must be a key type");
            StringAssert.Contains(message, "MapValueToKey");
        }

        private sealed class NumericRow
        {
            public float ImageSource { get; set; }
            public string Label { get; set; }
        }

        [TestMethod]
        public void FeatureColumnOfAnotherTypeIsRejected()
        {
            var data = Keyed(
                Ml.Data.LoadFromEnumerable(
                new[] { new NumericRow { ImageSource = 1, Label = "a" },
                new NumericRow { ImageSource = 2, Label = "b" } }));
            var message = Fails(() => Trainer().Fit(data)).Message;
            StringAssert.Contains(message, "Feature column 'ImageSource'");
            StringAssert.Contains(message, "Single");
        }

        [TestMethod]
        public void CorruptImageIsReportedWithItsRow()
        {
            var rows = GeneratedImages.Stripes(6, 1);
            rows[4].ImageSource = new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
            var error = Fails(() => Trainer().Fit(Keyed(Ml.Data.LoadFromEnumerable(rows))));
            Assert.IsInstanceOfType<InvalidImageException>(error);
            StringAssert.Contains(error.Message, "Column 'ImageSource', row 4");
        }

        [TestMethod]
        public void ValidationLabelTheTrainingSetLacksIsRejected()
        {
            // The key mapping knows both classes, but the training rows have only horizontal stripes plus one vertical.
            var all = GeneratedImages.Stripes(12, 1);
            var mapping = Ml.Transforms.Conversion.MapValueToKey("Label")
                .Fit(Ml.Data.LoadFromEnumerable(
                    all.Append(new ModelInput { ImageSource = all[0].ImageSource, Label = "diagonal" })));
            var train = mapping.Transform(Ml.Data.LoadFromEnumerable(all));
            var validation = mapping.Transform(
                Ml.Data.LoadFromEnumerable(
                new[] { new ModelInput { ImageSource = all[1].ImageSource, Label = "diagonal" } }));
            var message = Fails(() => Trainer(validation).Fit(train)).Message;
            StringAssert.Contains(message, "'diagonal'");
            StringAssert.Contains(message, "training data lacks");

            // A validation label that the training pipeline never saw maps to the missing key.
            var unseen = Ml.Transforms.Conversion.MapValueToKey("Label").Fit(Ml.Data.LoadFromEnumerable(all));
            var unseenValidation = unseen.Transform(
                Ml.Data.LoadFromEnumerable(
                new[] { new ModelInput { ImageSource = all[1].ImageSource, Label = "diagonal" } }));
            var unseenMessage = Fails(
                () => Trainer(unseenValidation).Fit(unseen.Transform(Ml.Data.LoadFromEnumerable(all)))).Message;
            StringAssert.Contains(unseenMessage, "not a key of the training data");
        }
    
        [TestMethod]
        public void ArchitectureThatContradictsThePretrainedWeightsIsRejected()
        {
            var data = Keyed(Ml.Data.LoadFromEnumerable(GeneratedImages.Stripes(6, 1)));
            var options = new FrozenResNetTrainer.Options
            {
                FeatureColumnName = "ImageSource", ImageSize = 32, Epochs = 1, BatchSize = 8,
                PretrainedWeights = PretrainedWeights.MLNetResNet18(), Architecture = ResNetArchitecture.ResNet50,
            };
            var message = Fails(() => Ml.MulticlassClassification.Trainers.FrozenResNet(options).Fit(data)).Message;
            StringAssert.Contains(message, "Architecture is ResNet50");
            StringAssert.Contains(message, "ResNet18");
        }
    }
}

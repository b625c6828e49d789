// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Freezing.Tests.Reliability;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests.MLNet
{
    /// <summary>
    /// A saved model keeps what <see cref="UnfreezeSchedule.Auto"/> decided after each epoch (its "Decisions" stream,
    /// format 0x00010003); a model of format 0x00010002, which has none, still loads.
    /// </summary>
    [TestClass]
    public sealed class SavedDecisionsTests
    {
        [TestMethod]
        public void ALoadedModelSaysWhatAutoDecidedAndAnOlderOneLoadsWithoutIt()
        {
            var ml = new MLContext(seed: 1);
            var data = ml.Data.LoadFromEnumerable(GeneratedImages.Stripes(80, seed: 12));
            var options = TinyModel.Options(epochs: 3);
            options.Freeze = FreezeMask.AllButHead;
            options.Unfreezing = UnfreezeSchedule.Auto();
            options.ValidationFraction = 0.25;
            string zip = Path.Combine(TinyModel.Folder, Guid.NewGuid().ToString("N") + ".zip");
            IReadOnlyList<EpochRecord> trained;
            using (TinyModel.OneThread())
            using (var model = TinyModel.Pipeline(ml, options).Fit(data))
            {
                trained = model.LastTransformer.History.Select(e => e.Record).ToList();
                ml.Model.Save(model, data.Schema, zip);
            }
            Assert.IsTrue(trained.All(r => r.ThawReason != null), "Auto gives a reason for every epoch");

            var loaded = History(ml, zip);
            Assert.HasCount(trained.Count, loaded);
            for (int i = 0; i < trained.Count; i++)
            {
                Assert.AreEqual(trained[i].ThawReason, loaded[i].ThawReason, $"epoch {i}");
                Assert.AreEqual(trained[i].StopReason, loaded[i].StopReason, $"epoch {i}");
                Assert.AreEqual(trained[i].RestoredEpoch, loaded[i].RestoredEpoch, $"epoch {i}");
                Assert.AreEqual(trained[i].HeadOnlyBaselineKept, loaded[i].HeadOnlyBaselineKept, $"epoch {i}");
                Assert.AreEqual(trained[i].ValidationLoss, loaded[i].ValidationLoss, $"epoch {i}");
            }

            // Format 0x00010002: the same entries without "Decisions"; the metrics load, the reasons are unknown.
            string older = ModelZips.RewriteEach(zip, TinyModel.Folder, (name, bytes) =>
            {
                if (name.EndsWith("/Decisions", StringComparison.Ordinal)) return null;
                if (!ModelZips.IsModelKey(name, bytes, "FRZRESNT")) return bytes;
                Assert.AreEqual(0x00010003u, ModelZips.WrittenVersion(bytes));
                return ModelZips.WithVersions(bytes, 0x00010002, 0x00010002);
            });
            var old = History(ml, older);
            Assert.HasCount(trained.Count, old);
            Assert.IsTrue(old.All(r => r.ThawReason == null && r.StopReason == null && r.RestoredEpoch == null));
            CollectionAssert.AreEqual(trained.Select(r => r.ValidationLoss).ToArray(),
                old.Select(r => r.ValidationLoss).ToArray());
        }

        private static List<EpochRecord> History(MLContext ml, string zip)
        {
            var model = ml.Model.Load(zip, out _);
            try
            {
                return ((IEnumerable<ITransformer>)model).OfType<FrozenResNetTransformer>().Single().History
                    .Select(e => e.Record).ToList();
            }
            finally
            {
                (model as IDisposable)?.Dispose();
            }
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;
using System.Linq;
using Microsoft.ML.Freezing.Tests.Reliability;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests.Defaults
{
    /// <summary>The weight cache works where the home folder cannot be written (containers, services).</summary>
    [TestClass]
    public sealed class WeightCacheFallbackTests
    {
        [TestMethod]
        public void AnUnwritableHomeFallsBackToTheTemporaryFolder()
        {
            string before = Environment.GetEnvironmentVariable("FREEZING_HOME");
            string source = Path.GetTempFileName();
            // A file where the folder should be: no one, not even root, can create the cache below it.
            string blocked = Path.GetTempFileName();
            string converter = $"fallback-test-{Guid.NewGuid():N}";
            string cached = null;
            try
            {
                File.WriteAllText(source, converter);
                Environment.SetEnvironmentVariable("FREEZING_HOME", blocked);
                int conversions = 0;
                ConvertedWeights Convert()
                {
                    conversions++;
                    // Copies: the network's own tensors die with it (its finalizer ran under a GC before the
                    // cache wrote them, "Tensor invalid -- empty handle").
                    using var network = new ResNet(TinyModel.Definition, seed: 0);
                    var preprocessing = ImagePreprocessing.ImageNet(32);
                    var copies = network.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
                    return new ConvertedWeights(TinyModel.Definition, preprocessing, copies);
                }

                var weights = WeightCache.GetOrConvert(source, converter, "fallback test", Convert);
                cached = Path.Combine(WeightCache.FallbackFolder, $"{converter}-{WeightCache.Hash(source)}.weights");
                Assert.IsTrue(File.Exists(cached), $"no cache entry at {cached}");
                Assert.AreEqual(TinyModel.Definition, weights.Definition);

                // The next call reads the fallback entry instead of converting again.
                WeightCache.GetOrConvert(source, converter, "fallback test", Convert);
                Assert.AreEqual(1, conversions);
            }
            finally
            {
                Environment.SetEnvironmentVariable("FREEZING_HOME", before);
                File.Delete(source);
                File.Delete(blocked);
                if (cached != null) File.Delete(cached);
            }
        }
    }
}

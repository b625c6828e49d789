// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests.Backbone
{
    /// <summary>Process-wide libtorch settings (<see cref="LibTorchSettings"/>).</summary>
    [TestClass]
    public sealed class LibTorchSettingsTests
    {
        [TestMethod]
        public void NNPackIsOffOnceANetworkExists()
        {
            using var network = new ResNet(TestData.TinyDefinition(), seed: 1);
            // Off, so libtorch never tries to initialise it and print "Could not initialize NNPACK!" on CPUs it does
            // not know (it prints nothing on this one either way, so the flag itself is what is checked).
            Assert.AreEqual(false, LibTorchSettings.NNPackEnabled());
        }
    }
}

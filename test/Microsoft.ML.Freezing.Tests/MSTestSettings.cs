// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using Microsoft.VisualStudio.TestTools.UnitTesting;

// TorchSharp uses every core for one operation already; tests run one at a time.
[assembly: DoNotParallelize]

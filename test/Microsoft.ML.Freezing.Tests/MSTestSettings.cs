using Microsoft.VisualStudio.TestTools.UnitTesting;

// TorchSharp uses every core for one operation already; tests run one at a time.
[assembly: DoNotParallelize]

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Freezing.Tests.Reliability
{
    /// <summary>
    /// Damaged model files give errors that name what is wrong (see also MLNet/ModelFileTests for missing, truncated
    /// and mis-shaped streams); a PyTorch checkpoint never executes code.
    /// </summary>
    [TestClass]
    public sealed class ModelFileReliabilityTests
    {
        private static readonly MLContext Ml = new MLContext(seed: 1);

        // ML.NET's ModelHeader (Microsoft.ML.Core/Data/ModelHeader.cs): the model block's signature and versions.
        private const int ModelSignatureOffset = 0x40;
        private const int ModelVerWrittenOffset = 0x48;
        private const int ModelVerReadableOffset = 0x4C;

        private static string LoadError(string zip)
        {
            try
            {
                var model = Ml.Model.Load(zip, out _);
                (model as IDisposable)?.Dispose();
            }
            catch (Exception ex)
            {
                // ML.NET wraps a loader's error ("Error during class instantiation"); the diagnosis is inside.
                var chain = new List<string>();
                for (var e = ex; e != null; e = e.InnerException)
                    chain.Add($"{e.GetType().Name}: {e.Message}");
                Console.WriteLine(string.Join("\n  <- ", chain));
                return string.Join("\n", chain);
            }
            Assert.Fail("the damaged model loaded");
            return null;
        }

        private static List<(string Name, byte[] Bytes)> Entries(string zip) => ModelZips.Entries(zip);

        /// <summary>A copy of the tiny model with each entry passed through <paramref name="change"/> (null drops
        /// it).</summary>
        private static string Rewrite(Func<string, byte[], byte[]> change)
        {
            string copy = Path.Combine(TinyModel.Folder, Guid.NewGuid().ToString("N") + ".zip");
            using var archive = ZipFile.Open(copy, ZipArchiveMode.Create);
            foreach (var (name, bytes) in Entries(TinyModel.Zip))
            {
                var changed = change(name, bytes);
                if (changed == null) continue;
                using var s = archive.CreateEntry(name).Open();
                s.Write(changed);
            }
            return copy;
        }

        private static bool IsFrozenResNetModelKey(string name, byte[] bytes)
            => name.EndsWith("/Model.key", StringComparison.Ordinal) && bytes.Length > 0x50
               && Encoding.ASCII.GetString(bytes, ModelSignatureOffset, 8) == "FRZRESNT";

        private static byte[] Patched(byte[] bytes, int offset, uint value)
        {
            var copy = (byte[])bytes.Clone();
            BitConverter.TryWriteBytes(copy.AsSpan(offset), value);
            return copy;
        }

        [TestMethod]
        public void TruncatedZipIsRejected()
        {
            string copy = Path.Combine(TinyModel.Folder, "truncated.zip");
            var bytes = File.ReadAllBytes(TinyModel.Zip);
            File.WriteAllBytes(copy, bytes.AsSpan(0, bytes.Length / 2).ToArray());
            // ML.NET's message, over System.IO.Compression's: the archive's central directory (at its end) is gone.
            string message = LoadError(copy);
            StringAssert.Contains(message, "Failed to open a zip archive");
            StringAssert.Contains(message, "Central Directory");
        }

        [TestMethod]
        public void AlteredWeightBytesFailTheChecksum()
        {
            string copy = Rewrite((name, bytes) =>
            {
                if (!name.EndsWith("/Weights", StringComparison.Ordinal)) return bytes;
                var altered = (byte[])bytes.Clone();
                altered[altered.Length / 2] ^= 0x01; // one bit of one weight
                return altered;
            });
            string message = LoadError(copy);
            StringAssert.Contains(message, "stream 'Weights' (network weights) is truncated or malformed");
            StringAssert.Contains(message, "SHA-256 checksum does not match");
        }

        [TestMethod]
        public void AlteredMainStreamFailsTheChecksum()
        {
            // A class name changed in the main stream ("vertical" -> "verticaX"): it would load as a wrong model.
            string copy = Rewrite((name, bytes) =>
            {
                if (!IsFrozenResNetModelKey(name, bytes)) return bytes;
                var altered = (byte[])bytes.Clone();
                int at = ImageFiles.IndexOf(altered, Encoding.UTF8.GetBytes("vertical"));
                Assert.IsGreaterThan(0, at);
                altered[at + 7] = (byte)'X';
                return altered;
            });
            StringAssert.Contains(LoadError(copy),
                "the main stream (column names, classes, network definition) is malformed: its SHA-256 checksum does " +
                "not match");
        }

        [TestMethod]
        public void WeightsOfTheWrongShapeAreNamedEvenWithAMatchingChecksum()
        {
            // A 3-class network's weights in a 2-class model, with the checksum updated to match: the shape check names
            // it.
            byte[] otherWeights;
            using (var other = new ResNet(TinyModel.Definition.WithClasses(3), seed: 0))
            using (var stream = new MemoryStream())
            {
                using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
                    other.save(writer);
                otherWeights = stream.ToArray();
            }
            byte[] oldHash = null;
            long oldLength = 0;
            foreach (var (name, bytes) in Entries(TinyModel.Zip))
            {
                if (name.EndsWith("/Weights", StringComparison.Ordinal))
                {
                    oldHash = SHA256.HashData(bytes);
                    oldLength = bytes.LongLength;
                }
            }
            string copy = Rewrite((name, bytes) =>
            {
                if (name.EndsWith("/Weights", StringComparison.Ordinal)) return otherWeights;
                if (!name.EndsWith("/Checksums", StringComparison.Ordinal)) return bytes;
                // Checksums: ... string name, int64 length, 32-byte SHA-256 ...: replace the Weights entry's length and
                // hash.
                var patched = (byte[])bytes.Clone();
                int at = ImageFiles.IndexOf(patched, oldHash);
                Assert.IsGreaterThan(8, at);
                Assert.AreEqual(oldLength, BitConverter.ToInt64(patched, at - 8));
                BitConverter.TryWriteBytes(patched.AsSpan(at - 8), otherWeights.LongLength);
                SHA256.HashData(otherWeights).CopyTo(patched, at);
                return patched;
            });
            string message = LoadError(copy);
            StringAssert.Contains(message, "stream 'Weights' (network weights) is truncated or malformed");
            StringAssert.Contains(message, $"Mismatched tensor shape while loading");
            StringAssert.Contains(message, $"(the model's network is {TinyModel.Definition})");
            Assert.IsFalse(message.Contains("checksum", StringComparison.Ordinal), message);
        }

        [TestMethod]
        public void FormatVersionFromTheFutureIsNamedAndAForwardReadableOneLoads()
        {
            string directory = null;
            string future = Rewrite((name, bytes) =>
            {
                if (!IsFrozenResNetModelKey(name, bytes)) return bytes;
                directory = name.Substring(0, name.LastIndexOf('/'));
                return Patched(Patched(bytes, ModelVerWrittenOffset, 0x00020001), ModelVerReadableOffset, 0x00020001);
            });
            string message = LoadError(future);
            StringAssert.Contains(message,
                $"FrozenResNet model part '{directory}' was saved in format 0x00020001 by a newer " +
                "Microsoft.ML.Freezing");
            StringAssert.Contains(message, "Update the Microsoft.ML.Freezing package");

            // A newer writer that declares its format readable by this version (additions in new streams) loads.
            string readable = Rewrite((name, bytes) => IsFrozenResNetModelKey(name, bytes)
                ? Patched(bytes, ModelVerWrittenOffset, 0x00010004) : bytes);
            var model = Ml.Model.Load(readable, out _);
            (model as IDisposable)?.Dispose();
        }

        [TestMethod]
        public void LoadedModelSavesBackByteForByte()
        {
            // The format did not move: what a model zip holds is what this version writes for it again.
            var model = Ml.Model.Load(TinyModel.Zip, out var schema);
            string again = Path.Combine(TinyModel.Folder, Guid.NewGuid().ToString("N") + ".zip");
            try
            {
                Ml.Model.Save(model, schema, again);
            }
            finally
            {
                (model as IDisposable)?.Dispose();
            }
            var expected = Entries(TinyModel.Zip);
            var actual = Entries(again);
            CollectionAssert.AreEqual(expected.Select(e => e.Name).ToArray(), actual.Select(e => e.Name).ToArray());
            for (int i = 0; i < expected.Count; i++)
                CollectionAssert.AreEqual(expected[i].Bytes, actual[i].Bytes, expected[i].Name);
        }

        [TestMethod]
        public void ModelInTheFirstFormatStillLoads()
        {
            // Format 0x00010001 had no Checksums or Decisions stream and no skipped-image count at the end of each
            // History record; the main stream is the same. Rewrite the tiny model back into it.
            string first = Rewrite((name, bytes) =>
            {
                if (name.EndsWith("/Checksums", StringComparison.Ordinal)
                    || name.EndsWith("/Decisions", StringComparison.Ordinal)) return null;
                if (IsFrozenResNetModelKey(name, bytes)) return Patched(
                    Patched(bytes, ModelVerWrittenOffset, 0x00010001), ModelVerReadableOffset, 0x00010001);
                if (!name.EndsWith("/History", StringComparison.Ordinal)) return bytes;
                var reader = new BinaryReader(new MemoryStream(bytes));
                var output = new MemoryStream();
                var writer = new BinaryWriter(output);
                int count = reader.ReadInt32();
                writer.Write(count);
                for (int i = 0; i < count; i++)
                {
                    // int epoch; int n; n ints (frozen stages); long trainable; one double per stage; 5 doubles; long
                    // ticks.
                    int epoch = reader.ReadInt32(), frozen = reader.ReadInt32();
                    writer.Write(epoch);
                    writer.Write(frozen);
                    writer.Write(reader.ReadBytes(4 * frozen + 8 + 8 * ResNetStages.All.Length + 8 * 5 + 8));
                    Assert.AreEqual(0, reader.ReadInt32(), "skipped images (0x00010002)");
                }
                Assert.AreEqual(bytes.Length, reader.BaseStream.Position);
                return output.ToArray();
            });
            var expected = Ml.Model.Load(TinyModel.Zip, out _);
            var model = Ml.Model.Load(first, out _);
            try
            {
                var frozen = ((IEnumerable<ITransformer>)model).OfType<FrozenResNetTransformer>().Single();
                Assert.HasCount(1, frozen.History);
                var probe = Ml.Data.LoadFromEnumerable(MLNet.GeneratedImages.Stripes(4, seed: 40));
                CollectionAssert.AreEqual(
                    expected.Transform(probe).GetColumn<float[]>("Score").SelectMany(s => s).ToArray(),
                    model.Transform(probe).GetColumn<float[]>("Score").SelectMany(s => s).ToArray());
            }
            finally
            {
                (model as IDisposable)?.Dispose();
                (expected as IDisposable)?.Dispose();
            }
        }

        [TestMethod]
        public void PyTorchCheckpointThatWouldRunCodeIsRejectedWithoutRunningIt()
        {
            // Fixtures/*.pth come from Fixtures/make-malicious-checkpoints.py (torch.save of objects whose __reduce__
            // calls os.system / builtins.exec). Unpickled by Python they write the marker file named in them into the
            // current folder.
            string fixtures = Path.Combine(RepoPaths.Root, "test", "Microsoft.ML.Freezing.Tests", "Reliability",
                "Fixtures");
            const string marker = "FREEZING_PICKLE_RAN";
            foreach (var (file, callable) in new[] { ("reduce-os-system.pth", "posix.system"),
                ("reduce-builtins-exec.pth", "__builtin__.exec") })
            {
                string source = Path.Combine(fixtures, file);
                Assert.IsTrue(File.Exists(source), source);
                string folder = Path.Combine(TinyModel.Folder, "pickle-" + Guid.NewGuid().ToString("N"));
                Directory.CreateDirectory(folder);
                string path = Path.Combine(folder, file);
                File.Copy(source, path);
                string previous = Directory.GetCurrentDirectory();
                Directory.SetCurrentDirectory(folder);
                try
                {
                    var error = Assert.ThrowsExactly<InvalidDataException>(() => PretrainedWeights.FromPyTorch(path));
                    Console.WriteLine(error.Message);
                    StringAssert.Contains(error.Message,
                        $"expected zero arguments for construction of ClassDict (for {callable})");
                }
                finally
                {
                    Directory.SetCurrentDirectory(previous);
                }
                Assert.IsFalse(File.Exists(Path.Combine(folder, marker)), $"{file}: the pickle ran code");

                // The fixture is live: Python's unpickler (torch.load without weights_only) does run it.
                if (PythonWithTorch() is string python)
                {
                    var run = new ProcessStartInfo(python) { WorkingDirectory = folder, RedirectStandardOutput = true,
                        RedirectStandardError = true };
                    foreach (var a in new[] { "-c", $"import torch; torch.load('{file}')" }) run.ArgumentList.Add(a);
                    using var process = Process.Start(run);
                    process.StandardOutput.ReadToEnd();
                    process.StandardError.ReadToEnd();
                    process.WaitForExit(60_000);
                    Assert.IsTrue(File.Exists(Path.Combine(folder, marker)),
                        $"{file}: torch.load did not run the payload, so the fixture proves nothing");
                }
                else
                {
                    Console.WriteLine(
                        "python3 with torch is not installed: the fixture's payload was not demonstrated");
                }
            }
        }

        [TestMethod]
        public void UnpicklerResolvesOnlyDataTypes()
        {
            // PyBridge unpickles with Razorvine.Pickle, which maps a pickle's GLOBAL/STACK_GLOBAL to a registered
            // IObjectConstructor or else to a ClassDict placeholder that takes no arguments; nothing names a .NET or
            // Python callable. This is the table; a new entry (another package version) needs a review of what it runs.
            var unpickler = Type.GetType("Razorvine.Pickle.Unpickler, Razorvine.Pickle", throwOnError: true);
            var pyBridge = Type.GetType("TorchSharp.PyBridge.PyTorchUnpickler, TorchSharp.PyBridge",
                throwOnError: true);
            System.Runtime.CompilerServices.RuntimeHelpers.RunClassConstructor(pyBridge.TypeHandle);
            var table = (IDictionary)unpickler.GetField("objectConstructors",
                BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public).GetValue(null);
            var registered = table.Keys.Cast<string>().OrderBy(k => k, StringComparer.Ordinal).ToArray();
            Console.WriteLine(string.Join("\n", registered.Select(k => $"{k} -> {table[k].GetType().Name}")));
            CollectionAssert.AreEquivalent(new[]
            {
                // Razorvine.Pickle 1.5.0: Python data types rebuilt as .NET values.
                "__builtin__.bytearray", "__builtin__.bytes", "__builtin__.complex", "__builtin__.set",
                "_codecs.encode",
                "array._array_reconstructor", "array.array", "builtins.bytearray", "builtins.complex", "builtins.set",
                "datetime.date", "datetime.datetime", "datetime.time", "datetime.timedelta", "decimal.Decimal",
                // TorchSharp.PyBridge 1.4.4: tensors from the archive's storages, OrderedDict, and a refusal of whole
                // modules.
                "collections.OrderedDict", "torch._utils._rebuild_parameter", "torch._utils._rebuild_tensor",
                "torch._utils._rebuild_tensor_v2",
            }, registered);
        }

        private static string PythonWithTorch()
        {
            foreach (var python in new[] { "/usr/bin/python3", "python3" })
            {
                try
                {
                    var check = new ProcessStartInfo(python) { RedirectStandardOutput = true,
                        RedirectStandardError = true };
                    foreach (var a in new[] { "-c", "import torch" }) check.ArgumentList.Add(a);
                    using var process = Process.Start(check);
                    process.StandardOutput.ReadToEnd();
                    process.StandardError.ReadToEnd();
                    if (process.WaitForExit(60_000) && process.ExitCode == 0)
                        return python;
                }
                catch (System.ComponentModel.Win32Exception)
                {
                }
            }
            return null;
        }
    }
}

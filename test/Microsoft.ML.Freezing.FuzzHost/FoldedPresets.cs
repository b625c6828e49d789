// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Freezing;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// Runs every network preset through the folded path, stage by stage against the plain modules, in this child process:
/// a oneDNN kernel that divides by zero (SIGFPE) while choosing its blocking ends the process, not the test run.
/// </summary>
internal static class FoldedPresets
{
    internal static IEnumerable<(string Name, ResNetDefinition Definition, int Batch)> Presets()
    {
        yield return ("resnet18", ResNetDefinition.ResNet18(10), 4);
        yield return ("mlnet-resnet18 [2,2,2,3]", new ResNetDefinition(ResNetBlockType.Basic, new[] { 2, 2, 2, 3 }, 10),
            16);
        yield return ("resnet34", ResNetDefinition.ResNet34(10), 4);
        yield return ("resnet50 v1.5", ResNetDefinition.ResNet50(10), 4);
        // Keras' ResNet-50: stride on the first 1x1 convolution, conv biases, eps 1e-3.
        yield return ("resnet50 v1 (Keras)", new ResNetDefinition(ResNetBlockType.Bottleneck, new[] { 3, 4, 6, 3 }, 10,
            ResNetVariant.V1, 1e-3, convBias: true), 4);
        yield return ("resnet101", ResNetDefinition.ResNet101(10), 2);
        yield return ("resnet152", ResNetDefinition.ResNet152(10), 2);
    }

    /// <summary>
    /// Prints "CASE name" before each preset, then "OK name stage:error ..." or "WRONG name stage:error ..." (error:
    /// max difference over the modules' range, per stage, each stage fed the modules' input); returns how many ran.
    /// </summary>
    public static int Run(TextWriter output, int size)
    {
        int ran = 0;
        foreach (var (name, definition, batch) in Presets())
        {
            output.WriteLine($"CASE {name}");
            var errors = Compare(definition, batch, size);
            bool right = errors.All(e => e.Error <= 1e-4);
            output.WriteLine($"{(right ? "OK" : "WRONG")} {name} " +
                string.Join(" ", errors.Select(e => $"{e.Stage.Name()}:{e.Error:G2}")));
            ran++;
        }
        return ran;
    }

    private static List<(ResNetStage Stage, double Error)> Compare(ResNetDefinition definition, int batch, int size)
    {
        using var network = new ResNet(definition, seed: 3);
        Randomize(network);
        network.eval();
        using var noGrad = no_grad();
        using var folded = network.Fold();
        using var generator = new Generator(5);
        var input = randn(new long[] { batch, 3, size, size }, generator: generator);
        var errors = new List<(ResNetStage, double)>();
        foreach (var stage in ResNetStages.All)
        {
            var expected = network.ForwardStage(stage, input);
            using (var actual = folded.ForwardStage(stage, input))
            using (var difference = (expected - actual).abs().max())
            using (var range = expected.abs().max())
                errors.Add((stage, difference.item<float>() / Math.Max(range.item<float>(), 1e-12)));
            input.Dispose();
            input = expected;
        }
        input.Dispose();
        return errors;
    }

    /// <summary>BatchNorm statistics and affine parameters away from the identity, so a wrong fold shows.</summary>
    internal static void Randomize(ResNet network)
    {
        using var generator = new Generator(11);
        using var noGrad = no_grad();
        foreach (var (_, bn, _) in network.BatchNorms())
        {
            bn.weight.uniform_(0.5, 1.5, generator);
            bn.bias.uniform_(-0.2, 0.2, generator);
            bn.running_mean.uniform_(-0.2, 0.2, generator);
            bn.running_var.uniform_(0.5, 2.0, generator);
        }
    }
}

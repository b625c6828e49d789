// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;
using Microsoft.ML.Freezing;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// One training step of every network preset with everything trainable (forward in training mode, cross-entropy,
/// backward), in this child process: oneDNN's 1x1 backward kernel divided by zero (SIGFPE) choosing its blocking on a
/// Zen 5 VM, training ResNet-50, which would end the test run itself.
/// </summary>
internal static class TrainingPresets
{
    /// <summary>
    /// Prints "CASE name" before each preset, then "OK name loss=..." when the loss and every gradient are finite and
    /// every parameter has one, else "WRONG name ..."; returns how many ran.
    /// </summary>
    public static int Run(TextWriter output, int size)
    {
        int ran = 0;
        foreach (var (name, definition, batch) in FoldedPresets.Presets())
        {
            output.WriteLine($"CASE {name}");
            output.WriteLine(Step(name, definition, Math.Max(batch, 4), size));
            ran++;
        }
        return ran;
    }

    private static string Step(string name, ResNetDefinition definition, int batch, int size)
    {
        using var network = new ResNet(definition, seed: 3);
        FoldedPresets.Randomize(network);
        network.train();
        using var scope = NewDisposeScope();
        using var generator = new Generator(5);
        var input = randn(new long[] { batch, 3, size, size }, generator: generator);
        var labels = randint(definition.NumClasses, new long[] { batch }, generator: generator);
        var loss = nn.functional.cross_entropy(network.call(input), labels);
        loss.backward();
        foreach (var (parameter, value) in network.named_parameters())
        {
            var grad = value.grad;
            if (grad is null)
                return $"WRONG {name} no gradient for {parameter}";
            if (!grad.isfinite().all().item<bool>())
                return $"WRONG {name} a gradient of {parameter} is not finite";
        }
        return $"OK {name} loss={loss.item<float>():G4}";
    }
}

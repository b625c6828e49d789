// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.CommandLine;
using System.Globalization;
using System.Linq;
using Microsoft.ML.Freezing;

namespace Samples
{
    /// <summary>
    /// <c>info [--arch resnet18|resnet34|resnet50|resnet101|resnet152] [--weights ...] [--size 224] [--classes 10]</c>:
    /// builds the network that <c>train</c> would train with the same <c>--arch</c> and <c>--weights</c> (by default
    /// ML.NET's ResNet-18, whose layer4 has three blocks) and prints its definition, one row per stage (output shape
    /// for a single image, parameter count) and the total.
    /// </summary>
    public static class InfoCommand
    {
        private static readonly Option<string> ArchOption = CliOptions.Choice("--arch",
            "The network's depth (default: resnet18).", null, TrainCommand.Architectures);

        private static readonly Option<string> WeightsOptionOption = WeightsOption.Create(
            "The weights whose network to describe, as train takes them (default as train's: mlnet-resnet18 for " +
            "resnet18, keras-resnet50 for resnet50, none for other --arch). none: torchvision's definition.");

        private static readonly Option<int> SizeOption = CliOptions.Int("--size",
            "The side in pixels of the input image.", 224, min: 1);

        private static readonly Option<int> ClassesOption = CliOptions.Int("--classes",
            "The classes of the head (0: no head).", 10, min: 0);

        /// <summary>The command, its options and their defaults.</summary>
        public static Command Create()
        {
            var command = new Command("info",
                "Builds the network that train would train with the same --arch and --weights and prints its " +
                "definition, one row per stage (output shape for a single image, parameter count) and the total.")
            {
                ArchOption, WeightsOptionOption, SizeOption, ClassesOption,
            };
            Program.SetAction(command, Run);
            return command;
        }

        private static int Run(ParseResult parsed)
        {
            string archText = parsed.GetValue(ArchOption);
            ResNetArchitecture? arch = archText is null ? null
                : Enum.Parse<ResNetArchitecture>(archText, ignoreCase: true);
            string weightsText = parsed.GetValue(WeightsOptionOption) ?? WeightsOption.DefaultFor(arch);
            var weights = WeightsOption.Resolve(weightsText, "info");
            int size = parsed.GetValue(SizeOption), classes = parsed.GetValue(ClassesOption);
            // The weights decide the network (ML.NET's ResNet-18 is [2,2,2,3], not torchvision's [2,2,2,2]).
            var definition = weights != PretrainedWeights.None ? weights.Definition.WithClasses(classes)
                : ResNetDefinition.For(arch ?? ResNetArchitecture.ResNet18, classes);
            using var model = new ResNet(definition, seed: 0);
            var inv = CultureInfo.InvariantCulture;
            Console.WriteLine($"{WeightsOption.Label(weightsText, weights, arch)}: {definition}");
            Console.WriteLine($"input [1, 3, {size}, {size}]");
            Console.WriteLine();
            Console.WriteLine($"{"stage",-8} {"output shape",-20} {"parameters",12}");
            foreach (var (stage, shape, parameters) in model.StageTable(size))
                Console.WriteLine(
                    $"{stage.Name(),-8} {"[" + string.Join(", ", shape) + "]",-20} " +
                    $"{parameters.ToString("N0", inv),12}");
            long total = model.parameters().Sum(p => p.numel());
            Console.WriteLine($"{"total",-8} {"",-20} {total.ToString("N0", inv),12}");
            return 0;
        }
    }
}

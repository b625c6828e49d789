// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.CommandLine;
using System.Globalization;
using System.Linq;
using Microsoft.ML.Freezing;

namespace Samples
{
    /// <summary>
    /// <c>info [--arch resnet18|resnet34|resnet50|resnet101|resnet152] [--size 224] [--classes 10]</c>: builds the
    /// network and prints its definition, one row per stage (output shape for a single image, parameter count) and the
    /// total.
    /// </summary>
    public static class InfoCommand
    {
        private static readonly Option<string> ArchOption = CliOptions.Choice("--arch", "The network's depth.",
            "resnet18", TrainCommand.Architectures);

        private static readonly Option<int> SizeOption = CliOptions.Int("--size",
            "The side in pixels of the input image.", 224, min: 1);

        private static readonly Option<int> ClassesOption = CliOptions.Int("--classes",
            "The classes of the head (0: no head).", 10, min: 0);

        /// <summary>The command, its options and their defaults.</summary>
        public static Command Create()
        {
            var command = new Command("info",
                "Builds a network and prints its definition, one row per stage (output shape for a single image, " +
                "parameter count) and the total.")
            {
                ArchOption, SizeOption, ClassesOption,
            };
            Program.SetAction(command, Run);
            return command;
        }

        private static int Run(ParseResult parsed)
        {
            var arch = Enum.Parse<ResNetArchitecture>(parsed.GetValue(ArchOption), ignoreCase: true);
            int size = parsed.GetValue(SizeOption), classes = parsed.GetValue(ClassesOption);
            var definition = ResNetDefinition.For(arch, classes);
            using var model = new ResNet(definition, seed: 0);
            var inv = CultureInfo.InvariantCulture;
            Console.WriteLine($"{arch}: {definition}");
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

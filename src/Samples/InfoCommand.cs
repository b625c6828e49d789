// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
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
        public const string Usage = "[--arch resnet18|resnet34|resnet50|resnet101|resnet152] " +
            "[--size 224] [--classes 10]";

        public static int Run(string[] args)
        {
            var arch = ResNetArchitecture.ResNet18;
            int size = 224, classes = 10;
            for (int i = 0; i < args.Length; i++)
            {
                string option = args[i];
                if (i + 1 >= args.Length)
                    throw new UsageException($"info: option '{option}' needs a value.");
                string value = args[++i];
                switch (option)
                {
                    case "--arch":
                        if (!Enum.TryParse(value, ignoreCase: true, out arch) || !Enum.IsDefined(arch))
                            throw new UsageException($"info: unknown architecture '{value}'.");
                        break;
                    case "--size":
                        size = ParseInt(option, value, min: 1);
                        break;
                    case "--classes":
                        classes = ParseInt(option, value, min: 0);
                        break;
                    default:
                        throw new UsageException($"info: unknown option '{option}'.");
                }
            }

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

        private static int ParseInt(string option, string value, int min)
        {
            if (!int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) || n < min)
                throw new UsageException($"info: {option} needs an integer of at least {min}; got '{value}'.");
            return n;
        }
    }
}

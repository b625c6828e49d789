// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.CommandLine;
using System.IO;
using Microsoft.ML.Freezing;

namespace Samples
{
    /// <summary>
    /// <c>--weights mlnet-resnet18|keras-resnet50|none|&lt;weights file&gt;</c>: where training starts from. Without
    /// <c>--weights</c> the choice follows <c>--arch</c>: ResNet-18 (and no <c>--arch</c>) starts from ML.NET's
    /// pretrained ResNet-18, ResNet-50 from the Keras one, the other depths from random weights (no pretrained ones are
    /// at hand).
    /// </summary>
    public static class WeightsOption
    {
        public const string Usage = "mlnet-resnet18|keras-resnet50|none|<weights file>";

        /// <summary>The option (null when not given: the default follows <c>--arch</c>, see
        /// <see cref="DefaultFor"/>). A value that is neither a name nor an existing file fails its
        /// validator.</summary>
        public static Option<string> Create(string description)
        {
            var option = new Option<string>("--weights") { Description = description, HelpName = Usage };
            option.Validators.Add(result =>
            {
                string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : null;
                if (text != null && !IsName(text) && !File.Exists(text))
                    result.AddError(NotFound(text));
            });
            return option;
        }

        /// <summary>The <c>--weights</c> text implied by <c>--arch</c> (null when no <c>--arch</c>).</summary>
        public static string DefaultFor(ResNetArchitecture? architecture) => architecture switch
        {
            null or ResNetArchitecture.ResNet18 => "mlnet-resnet18",
            ResNetArchitecture.ResNet50 => "keras-resnet50",
            _ => "none",
        };

        /// <summary>A short name of the starting point for titles: "ML.NET ResNet-18", "random ResNet34", a file
        /// name.</summary>
        public static string Label(string text, PretrainedWeights weights, ResNetArchitecture? architecture)
            => text.ToLowerInvariant() switch
        {
            "mlnet-resnet18" => "ML.NET ResNet-18 (ImageNet)",
            "keras-resnet50" => "Keras ResNet-50 (ImageNet)",
            "none" => $"{architecture ?? ResNetArchitecture.ResNet18}, random init",
            _ => weights != PretrainedWeights.None ? Path.GetFileName(text) : text,
        };

        private static PretrainedWeights Load(string command, string name, Func<PretrainedWeights> load,
            string fetchScript, params string[] fetchArguments)
        {
            try
            {
                return load();
            }
            catch (FileNotFoundException e)
            {
                // Weights that a script in eng/ fetches: fetch them once, then load again.
                if (fetchScript != null && RepositoryScripts.TryRun(fetchScript, fetchArguments))
                    return load();
                throw new UsageException($"{command}: --weights {name}: {e.Message}");
            }
        }

        private static bool IsName(string text) => text.ToLowerInvariant() is "none" or "mlnet-resnet18"
            or "keras-resnet50";

        private static string NotFound(string text)
            => $"--weights must be {Usage}; '{text}' is none of the names and no such file exists.";

        /// <summary>The weights <paramref name="text"/> names (none: <see cref="PretrainedWeights.None"/>).</summary>
        public static PretrainedWeights Resolve(string text, string command)
        {
            switch (text.ToLowerInvariant())
            {
                case "none":
                    return PretrainedWeights.None;
                case "mlnet-resnet18":
                    // The library's default weights: its Microsoft.ML.DnnImageFeaturizer.ResNet18 dependency copies the
                    // ONNX file beside the sample, converted on first use and cached.
                    return Load(command, text, () => TrainingDefaults.Weights(null, ResNetArchitecture.ResNet18),
                        fetchScript: null);
                case "keras-resnet50":
                    return Load(command, text, () => PretrainedWeights.KerasResNet50(),
                        "fetch-keras-resnet50.sh", "--model-only");
                default:
                    if (!File.Exists(text))
                        throw new UsageException($"{command}: {NotFound(text)}");
                    try
                    {
                        return PretrainedWeights.FromFile(text);
                    }
                    catch (InvalidDataException e)
                    {
                        throw new UsageException(
                            $"{command}: '{text}' is not a weights file this library wrote: {e.Message}");
                    }
            }
        }
    }
}

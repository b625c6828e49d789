// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>The optimizers the fine-tuner can build.</summary>
    public enum OptimizerKind
    {
        /// <summary>SGD with (optionally Nesterov) momentum; weight decay as L2.</summary>
        Sgd,
        /// <summary>AdamW; decoupled weight decay.</summary>
        AdamW,
    }

    /// <summary>
    /// One optimizer parameter group: the parameters of one stage that do (weights of convolutions and fc) or do not
    /// (BatchNorm parameters and biases) take weight decay. Frozen parameters stay in their group without a gradient,
    /// so the optimizer skips them, decay included.
    /// </summary>
    public sealed class ParameterGroup
    {
        internal ParameterGroup(int index, ResNetStage stage, bool weightDecay,
            IReadOnlyList<(string Name, Parameter Parameter)> parameters, double baseRate)
        {
            Index = index;
            Stage = stage;
            TakesWeightDecay = weightDecay;
            Parameters = parameters;
            BaseLearningRate = baseRate;
        }

        /// <summary>Index of the group in the optimizer's <c>ParamGroups</c>.</summary>
        public int Index { get; }
        /// <summary>The stage the parameters belong to.</summary>
        public ResNetStage Stage { get; }
        /// <summary>Whether weight decay applies to this group.</summary>
        public bool TakesWeightDecay { get; }
        /// <summary>The parameters with their state-dict names.</summary>
        public IReadOnlyList<(string Name, Parameter Parameter)> Parameters { get; }
        /// <summary>The stage's base rate before schedule and warm-up factors.</summary>
        public double BaseLearningRate { get; }

        /// <inheritdoc/>
        public override string ToString()
            => $"{Stage.Name()}{(TakesWeightDecay ? "" : " (no decay)")}: {Parameters.Count} tensors, lr " +
            $"{BaseLearningRate:g4}";
    }

    /// <summary>Builds an optimizer with one parameter group per stage and decay class, all created up front.</summary>
    internal static class ParameterGroups
    {
        /// <summary>Creates the groups and the optimizer over every parameter of <paramref name="model"/>.</summary>
        public static (optim.Optimizer Optimizer, IReadOnlyList<ParameterGroup> Groups) CreateOptimizer(
            ResNet model, OptimizerKind kind, IReadOnlyDictionary<ResNetStage, double> stageRates,
            double momentum = 0.9, bool nesterov = false, double weightDecay = 0)
        {
            if (weightDecay < 0) throw new ArgumentOutOfRangeException(nameof(weightDecay),
                "Weight decay cannot be negative.");
            var groups = new List<ParameterGroup>();
            foreach (var stage in ResNetStages.All)
            {
                var inStage = model.StagedParameters().Where(p => p.Stage == stage).ToList();
                foreach (bool decay in new[] { true, false })
                {
                    // Only conv and fc weights (2-D and up) decay; BatchNorm parameters and biases never do.
                    var members = inStage.Where(p => (p.Parameter.dim() > 1) == decay)
                        .Select(p => (p.Name, p.Parameter)).ToList();
                    if (members.Count > 0)
                        groups.Add(new ParameterGroup(groups.Count, stage, decay, members, stageRates[stage]));
                }
            }

            optim.Optimizer optimizer = kind switch
            {
                // TorchSharp's own steps can lose a Scalar to the garbage collector mid-call (ScalarSafeOptimizers).
                OptimizerKind.Sgd => new ScalarSafeSgd(
                    groups.Select(g => new SGD.ParamGroup(g.Parameters.Select(p => p.Parameter),
                    lr: g.BaseLearningRate, momentum: momentum, weight_decay: g.TakesWeightDecay ? weightDecay : 0,
                    nesterov: nesterov && momentum > 0)),
                    groups[0].BaseLearningRate, momentum, nesterov && momentum > 0),
                OptimizerKind.AdamW => new ScalarSafeAdamW(
                    groups.Select(g => new AdamW.ParamGroup(g.Parameters.Select(p => p.Parameter),
                    lr: g.BaseLearningRate, weight_decay: g.TakesWeightDecay ? weightDecay : 0)),
                    groups[0].BaseLearningRate),
                _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown optimizer."),
            };
            return (optimizer, groups);
        }

        /// <summary>Sets each group's current rate: its base rate times <paramref name="factor"/>(group).</summary>
        public static void SetLearningRates(optim.Optimizer optimizer, IReadOnlyList<ParameterGroup> groups,
            Func<ParameterGroup, double> factor)
        {
            int i = 0;
            foreach (var controller in optimizer.ParamGroups)
            {
                controller.LearningRate = groups[i].BaseLearningRate * factor(groups[i]);
                i++;
            }
        }

        /// <summary>Resets the optimizer state (momentum, Adam moments, step count) of the named parameters.</summary>
        public static void ResetState(optim.Optimizer optimizer, IReadOnlyList<ParameterGroup> groups,
            ISet<string> parameterNames)
        {
            var helper = optimizer as OptimizerHelper
                ?? throw new NotSupportedException($"Optimizer {optimizer.GetType().Name} does not expose its state.");
            var sd = helper.state_dict();
            for (int g = 0; g < groups.Count; g++)
            {
                var indices = sd.StateIndexRef[g];
                for (int j = 0; j < groups[g].Parameters.Count; j++)
                {
                    if (parameterNames.Contains(groups[g].Parameters[j].Name))
                        sd.State[indices[j]].Initialize(sd.Options[g]);
                }
            }
        }
    }
}

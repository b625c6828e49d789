// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    // TorchSharp 0.107's SGD.step and AdamW.step hand numbers (the rate, momentum, betas) to native calls as Scalars
    // made on the fly, which nothing keeps alive during the call (see Scalars): a collection whose finalizers run
    // meanwhile frees them under libtorch. With a thread collecting without pause, TorchSharp's SGD failed within 150
    // steps of a small linear layer ("Unknown scalar type" from THSTensor_add) on a 2-core AMD EPYC Zen 4 VM; in a
    // training run the image decoder's allocations make such collections rare but real, and a freed Scalar may also be
    // read as a wrong number without any error. These subclasses compute PyTorch's update rules (torch.optim.SGD and
    // AdamW, as ParameterGroups builds them: no maximize, no AMSGrad) with every Scalar owned by a using until its
    // calls returned. The state objects are TorchSharp's, so saved optimizer state reads and writes as before.

    /// <summary>SGD with momentum (optionally Nesterov) and L2 weight decay, Scalars held across native calls.
    /// </summary>
    internal sealed class ScalarSafeSgd : SGD
    {
        public ScalarSafeSgd(IEnumerable<ParamGroup> groups, double rate, double momentum, bool nesterov)
            : base(groups, rate, momentum: momentum, nesterov: nesterov)
        {
        }

        public override Tensor step(Func<Tensor> closure = null) => _step<ParamGroup>(group =>
        {
            var options = group.Options;
            if (options.maximize == true || (options.dampening ?? 0) != 0)
                throw new NotSupportedException("maximize and dampening are not used by this library's SGD.");
            double decay = options.weight_decay.Value, momentum = options.momentum.Value;
            using Scalar decayFactor = decay, momentumFactor = momentum, one = 1.0;
            using Scalar descent = -options.LearningRate.Value;
            foreach (var parameter in group.Parameters)
            {
                var gradient = parameter.grad;
                if (gradient is null)
                    continue;
                if (decay != 0)
                    gradient = gradient.add(parameter, decayFactor); // g + decay * p
                if (momentum != 0)
                    gradient = WithMomentum((State)_state[parameter.Handle], gradient, momentumFactor, one,
                        options.nesterov == true);
                parameter.add_(gradient, descent);
            }
        }, closure);

        // buf = momentum * buf + g (buf = g at the first step); the step follows buf, or g + momentum * buf (Nesterov).
        private static Tensor WithMomentum(State state, Tensor gradient, Scalar momentum, Scalar one, bool nesterov)
        {
            if (state.momentum_buffer is null)
                state.momentum_buffer = gradient.clone().detach().DetachFromDisposeScope();
            else
                state.momentum_buffer.mul_(momentum).add_(gradient, one);
            return nesterov ? gradient.add(state.momentum_buffer, momentum) : state.momentum_buffer;
        }
    }

    /// <summary>AdamW (decoupled weight decay, bias-corrected moments); Scalars held across native calls.</summary>
    internal sealed class ScalarSafeAdamW : AdamW
    {
        public ScalarSafeAdamW(IEnumerable<ParamGroup> groups, double rate) : base(groups, rate)
        {
        }

        public override Tensor step(Func<Tensor> closure = null) => _step<ParamGroup>(group =>
        {
            var options = group.Options;
            if (options.maximize == true || options.amsgrad == true)
                throw new NotSupportedException("maximize and AMSGrad are not used by this library's AdamW.");
            double rate = options.LearningRate.Value, beta1 = options.beta1.Value, beta2 = options.beta2.Value;
            using Scalar shrink = 1 - rate * options.weight_decay.Value, keep1 = beta1, keep2 = beta2;
            using Scalar take1 = 1 - beta1, take2 = 1 - beta2, epsilon = options.eps.Value, one = 1.0;
            foreach (var parameter in group.Parameters)
            {
                var gradient = parameter.grad;
                if (gradient is null)
                    continue;
                var state = (State)_state[parameter.Handle];
                state.step += 1;
                parameter.mul_(shrink);
                state.exp_avg.mul_(keep1).add_(gradient, take1);
                state.exp_avg_sq.mul_(keep2).addcmul_(gradient, gradient, take2);
                using Scalar root = Math.Sqrt(1 - Math.Pow(beta2, state.step));
                using Scalar stepSize = -rate / (1 - Math.Pow(beta1, state.step));
                // add_(Scalar) would make a temporary alpha of 1: pass a held one.
                var denominator = state.exp_avg_sq.sqrt().div_(root).add_(epsilon, one);
                parameter.addcdiv_(state.exp_avg, denominator, stepSize);
            }
        }, closure);
    }
}

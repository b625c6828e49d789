// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>Copies of a module's weights, made where no temporary can be collected mid-call.</summary>
    internal static class WeightCopies
    {
        /// <summary>
        /// A copy of every parameter and buffer by state-dict name, owned by the caller (in no dispose scope). The
        /// copies are made in a scope of their own, which holds each <c>detach()</c> until its clone returned: a
        /// temporary that only its finalizer owns can be freed while libtorch clones it (a SIGSEGV in
        /// <c>THSTensor_clone</c> under a collecting thread; TorchSharp does not keep a receiver alive across the
        /// call).
        /// </summary>
        public static Dictionary<string, Tensor> Of(nn.Module module)
        {
            using var scope = NewDisposeScope();
            return module.state_dict()
                .ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone().DetachFromDisposeScope());
        }
    }
}

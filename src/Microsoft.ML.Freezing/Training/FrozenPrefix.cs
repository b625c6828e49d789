// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// An epoch's frozen prefix (stem up to <see cref="Last"/>, the stage below the lowest trainable one), run under
    /// <c>no_grad</c> by the fastest route that computes the modules' values: ONNX Runtime (float32 on the CPU), else
    /// the folded snapshot (bfloat16 when asked, CUDA, or ONNX Runtime unavailable), else the modules (a BatchNorm in
    /// training mode). The frozen weights cannot change during the epoch, so one snapshot serves all of it.
    /// </summary>
    internal sealed class FrozenPrefix : IDisposable
    {
        private readonly ResNet _model;
        private readonly Func<FoldedResNet> _fold;
        private readonly IReadOnlyCollection<ResNetStage> _outputs;
        private readonly Action<string> _log;
        private readonly long _passImages;
        private FoldedResNet _folded;
        private OnnxRuntimePrefix _onnx;
        private bool? _onnxWanted;

        private FrozenPrefix(ResNet model, ResNetStage last, Func<FoldedResNet> fold, bool? onnx, long passImages,
            IReadOnlyCollection<ResNetStage> outputs, Action<string> log)
        {
            _model = model;
            Last = last;
            _fold = fold;
            _onnxWanted = onnx;
            _passImages = passImages;
            _outputs = outputs;
            _log = log;
        }

        /// <summary>
        /// Pixels (images x height x width) a pass must cover for the automatic choice to build an ONNX Runtime
        /// session: building it takes about 1 s (ResNet-18, 2 cores; 0.2 s from a graph an earlier run kept),
        /// which ONNX Runtime's faster kernels repay after about 100 images at 224 px.
        /// </summary>
        internal const long OnnxMinimumPassPixels = 128L * 224 * 224;

        /// <summary>The last stage of the prefix.</summary>
        public ResNetStage Last { get; }

        /// <summary>
        /// The prefix below <paramref name="firstTrainable"/>. <paramref name="engine"/> OnnxRuntime asks for ONNX
        /// Runtime, null for it when the pass of <paramref name="passImages"/> images repays the session (taken when
        /// the prefix can be folded in float32 on the CPU); <paramref name="outputs"/> are the stage outputs a caller
        /// reads besides the last one (the cache's).
        /// </summary>
        public static FrozenPrefix Create(ResNet model, ResNetStage firstTrainable, InferencePrecision precision,
            InferenceEngine? engine, long passImages, IReadOnlyCollection<ResNetStage> outputs, Action<string> log)
        {
            var last = firstTrainable - 1;
            bool foldable = !model.BatchNorms().Any(b => b.Stage <= last && b.Module.training);
            bool onCpu = model.parameters().All(p => p.device_type == TorchSharp.DeviceType.CPU);
            Func<FoldedResNet> fold = foldable ? () => model.Fold(ResNetStage.Stem, last, precision, log) : null;
            bool onnx = engine != InferenceEngine.TorchSharp && foldable && onCpu
                && precision == InferencePrecision.Float32;
            return new FrozenPrefix(model, last, fold, onnx ? (engine == null ? null : true) : false, passImages,
                outputs, log);
        }

        /// <summary>
        /// Runs the prefix on <paramref name="images"/> (normalised, [N, 3, H, W]) and returns the output of
        /// <see cref="Last"/>; <paramref name="onStage"/> sees each stage's output on the way (every stage through the
        /// modules or the fold, the stages asked for at creation through ONNX Runtime). Tensors live in the caller's
        /// dispose scope.
        /// </summary>
        public Tensor Forward(Tensor images, Action<ResNetStage, Tensor> onStage)
        {
            using var noGrad = no_grad();
            _onnxWanted ??= _passImages * images.shape[2] * images.shape[3] >= OnnxMinimumPassPixels;
            if (_onnxWanted == true && Onnx(images) is OnnxRuntimePrefix onnx)
            {
                var outputs = onnx.Run(images);
                foreach (var (stage, output) in outputs.OrderBy(o => o.Key))
                    onStage(stage, output);
                return outputs[Last];
            }
            if (_folded == null && _fold != null)
                _folded = _fold();
            var hidden = images;
            for (var stage = ResNetStage.Stem; stage <= Last; stage++)
            {
                hidden = _folded != null ? _folded.ForwardStage(stage, hidden) : _model.ForwardStage(stage, hidden);
                onStage(stage, hidden);
            }
            return hidden;
        }

        // The session, built at the first batch (its image size); null when ONNX Runtime cannot run here (said once).
        private OnnxRuntimePrefix Onnx(Tensor images)
        {
            if (_onnx != null)
                return _onnx;
            try
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                _onnx = OnnxRuntimePrefix.Create(_model, Last, _outputs, images.shape[2], images.shape[3],
                    get_num_threads());
                _log?.Invoke($"The frozen prefix ({ResNetStage.Stem.Name()}..{Last.Name()}) runs on ONNX Runtime " +
                    $"(session built in {clock.Elapsed.TotalSeconds:F1} s" +
                    (_onnx.FromCache ? ", from the optimised graph an earlier run kept)." : ")."));
            }
            catch (Exception e) when (OnnxRuntimeScorer.CannotRun(e))
            {
                _onnxWanted = false;
                _log?.Invoke($"ONNX Runtime could not run the frozen prefix, so it runs on TorchSharp: {e.Message}");
            }
            return _onnx;
        }

        public void Dispose()
        {
            _folded?.Dispose();
            _onnx?.Dispose();
        }
    }
}

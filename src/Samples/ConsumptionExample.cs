// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Microsoft.Extensions.ObjectPool;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Samples
{
    /// <summary>
    /// Consuming a trained model the way Model Builder's generated <c>*.consumption.cs</c> does: the input and output
    /// classes, and a static <see cref="Predict"/> that loads <c>model.zip</c> once, on first use.
    /// <see cref="Predict"/> is thread-safe: each call borrows a <c>PredictionEngine</c> (ML.NET's engines are not
    /// thread-safe) over the one shared model from a <c>Microsoft.Extensions.ObjectPool</c> pool, which is what
    /// <c>PredictionEnginePool</c> of Microsoft.Extensions.ML does.
    /// </summary>
    public static class ConsumptionExample
    {
        /// <summary>Model Builder's input: the encoded image file (png, jpg, ...) and, for training and evaluation, its
        /// class.</summary>
        public sealed class ModelInput
        {
            [ColumnName("ImageSource")]
            public byte[] ImageSource { get; set; }

            [ColumnName("Label")]
            public string Label { get; set; }
        }

        /// <summary>Model Builder's output: the predicted class and the probability of each class (in
        /// <see cref="ClassNames"/> order).</summary>
        public sealed class ModelOutput
        {
            [ColumnName("PredictedLabel")]
            public string PredictedLabel { get; set; }

            [ColumnName("Score")]
            public float[] Score { get; set; }
        }

        /// <summary>Where the model is loaded from. Set it before the first prediction; later changes are
        /// ignored.</summary>
        public static string ModelPath { get; set; } = "model.zip";

        private static readonly MLContext MLContext = new MLContext();

        // Loaded once, by whichever thread predicts first; the others wait for it.
        private static readonly Lazy<ITransformer> Model = new Lazy<ITransformer>(
            () => MLContext.Model.Load(ModelPath, out _), LazyThreadSafetyMode.ExecutionAndPublication);

        // Engines over the shared model, kept for reuse (at most one per core stays pooled).
        private static readonly ObjectPool<PredictionEngine<ModelInput, ModelOutput>> Engines =
            new DefaultObjectPoolProvider { MaximumRetained = Environment.ProcessorCount }.Create(new EnginePolicy());

        private static readonly Lazy<string[]> Labels = new Lazy<string[]>(() => WithEngine(
            engine => ReadClassNames(engine.OutputSchema)));

        /// <summary>Predicts the class of one image. Safe to call from any number of threads.</summary>
        public static ModelOutput Predict(ModelInput input) => WithEngine(engine => engine.Predict(input));

        private static T WithEngine<T>(Func<PredictionEngine<ModelInput, ModelOutput>, T> use)
        {
            var engine = Engines.Get();
            T result;
            try
            {
                result = use(engine);
            }
            catch
            {
                engine.Dispose(); // it may hold half-updated row state; the pool makes a new one
                throw;
            }
            Engines.Return(engine);
            return result;
        }

        // OwnsTransformer = false: ML.NET's PredictionEngine.Dispose would otherwise dispose the shared model.
        private sealed class EnginePolicy : PooledObjectPolicy<PredictionEngine<ModelInput, ModelOutput>>
        {
            public override PredictionEngine<ModelInput, ModelOutput> Create()
                => MLContext.Model.CreatePredictionEngine<ModelInput, ModelOutput>(Model.Value,
                    new PredictionEngineOptions { OwnsTransformer = false });

            public override bool Return(PredictionEngine<ModelInput, ModelOutput> engine) => true;
        }

        /// <summary>The class names in the order of <see cref="ModelOutput.Score"/> (the Score column's slot
        /// names).</summary>
        public static IReadOnlyList<string> ClassNames => Labels.Value;

        /// <summary>Every class with its probability, most likely first.</summary>
        public static IReadOnlyList<KeyValuePair<string, float>> PredictAllLabels(ModelInput input)
        {
            var output = Predict(input);
            return ClassNames.Zip(output.Score, (label, score) => new KeyValuePair<string, float>(label, score))
                .OrderByDescending(kv => kv.Value).ToList();
        }

        private static string[] ReadClassNames(DataViewSchema schema)
        {
            var score = schema["Score"];
            VBuffer<ReadOnlyMemory<char>> names = default;
            score.GetSlotNames(ref names);
            return names.DenseValues().Select(n => n.ToString()).ToArray();
        }
    }
}

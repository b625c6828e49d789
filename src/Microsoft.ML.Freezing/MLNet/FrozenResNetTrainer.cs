// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Fine-tunes a ResNet on an image column and a key-typed label: freeze masks, BatchNorm policy, per-stage learning
    /// rates and gradual unfreezing (see <see cref="Options"/>). Produces a <see cref="FrozenResNetTransformer"/>.
    /// A custom estimator rather than a <c>TrainerEstimatorBase</c>, whose single feature type does not fit images.
    /// </summary>
    public sealed partial class FrozenResNetTrainer : IEstimator<FrozenResNetTransformer>
    {
        private readonly IHost _host;
        private readonly Options _options;

        internal FrozenResNetTrainer(IHostEnvironment env, Options options)
        {
            Contracts.CheckValue(env, nameof(env));
            _host = env.Register(nameof(FrozenResNetTrainer));
            _options = options ?? throw new ArgumentNullException(nameof(options));
            _host.CheckNonEmpty(options.LabelColumnName, nameof(options.LabelColumnName));
            _host.CheckNonEmpty(options.FeatureColumnName, nameof(options.FeatureColumnName));
            _host.CheckNonEmpty(options.ScoreColumnName, nameof(options.ScoreColumnName));
            _host.CheckNonEmpty(options.PredictedLabelColumnName, nameof(options.PredictedLabelColumnName));
            _host.CheckUserArg(options.ImageSize >= 32, nameof(options.ImageSize), "must be at least 32 pixels");
            _host.CheckUserArg(options.ValidationFraction >= 0 && options.ValidationFraction < 1,
                nameof(options.ValidationFraction), "must lie in [0, 1)");
            _host.CheckUserArg(options.NumberOfThreads is null || options.NumberOfThreads > 0,
                nameof(options.NumberOfThreads), "must be positive");
            _host.CheckUserArg(Enum.IsDefined(options.InvalidImagePolicy), nameof(options.InvalidImagePolicy),
                "is not a known policy");
            _host.CheckUserArg(!(options.HorizontalFlip && options.Augmentation == ImageAugmentation.FlipAndCrop),
                nameof(options.HorizontalFlip), "flips images that Augmentation FlipAndCrop already flips: set one");
            // TorchSharp steps in float32: a larger rate fails inside libtorch with a cryptic message.
            _host.CheckUserArg(options.LearningRate is null or (> 0 and <= float.MaxValue),
                nameof(options.LearningRate), "must be positive and at most float.MaxValue");
            if (options.PretrainedWeights is null && options.ArchitectureWasSet)
            {
                string noWeights = TrainingDefaults.NoBuiltInWeights(options.Architecture);
                _host.CheckUserArg(noWeights is null, nameof(options.PretrainedWeights), noWeights);
            }
        }

        /// <summary>Trains from scratch or from <see cref="Options.PretrainedWeights"/>.</summary>
        public FrozenResNetTransformer Fit(IDataView input) => Fit(input, null);

        /// <summary>
        /// Continues training <paramref name="previousModel"/> (its weights and optimizer state) on
        /// <paramref name="trainData"/>, ML.NET's idiom for continued training. The previous model is left unchanged.
        /// </summary>
        public FrozenResNetTransformer Fit(IDataView trainData, FrozenResNetTransformer previousModel)
        {
            _host.CheckValue(trainData, nameof(trainData));
            using var ch = _host.Start("Training FrozenResNet");
            var run = Prepare(ch, trainData, previousModel);
            try
            {
                using var tuner = new FineTuner(run.Network, run.Tune);
                ContinueOptimizer(ch, tuner, previousModel);
                ch.Info($"FrozenResNet: {run.Network.Definition}, {run.Train.Source.Count} training images" +
                    $"{(run.Validation != null ? $", {run.Validation.Count} validation images" : "")}, " +
                    $"{run.Preprocessing}.");
                ch.Info(Describe(run.Tune, run.Weights?.ToString() ?? "the previous model", run.Validation != null));
                var history = tuner.Fit(run.Train.Source, run.Validation)
                    .Select(r => new FrozenResNetEpoch(r, run.SkippedInvalidImages));
                // The loss is checked before every step, but the last step itself could still overflow.
                Divergence.ThrowIfDiverged(run.Network, run.Train.Source);
                // The model only scores from here: drop the last step's gradients (as much memory as the weights).
                foreach (var parameter in run.Network.parameters())
                    parameter.grad = null;
                var model = new FrozenResNetModel(run.Network, run.ClassNames, run.Preprocessing, _options.Device);
                var all = (previousModel?.History ?? Array.Empty<FrozenResNetEpoch>()).Concat(history).ToList();
                return new FrozenResNetTransformer(_host, model, _options.FeatureColumnName, _options.ScoreColumnName,
                    _options.PredictedLabelColumnName, all, OptimizerState(ch, tuner));
            }
            catch
            {
                run.Network.Dispose();
                throw;
            }
            finally
            {
                run.Dispose();
            }
        }

        /// <summary>
        /// Leslie Smith's learning-rate range test (<see cref="LearningRateFinder"/>) on <paramref name="trainData"/>
        /// with this trainer's options (weights, freeze mask at the first epoch, optimizer, per-stage rates), before
        /// training: the loss at each rate and a suggested <see cref="Options.LearningRate"/>. Nothing is trained for
        /// good.
        /// </summary>
        public LearningRateFinderResult FindLearningRate(IDataView trainData, LearningRateFinderOptions finder = null)
        {
            _host.CheckValue(trainData, nameof(trainData));
            using var ch = _host.Start("FrozenResNet learning-rate range test");
            var run = Prepare(ch, trainData, previousModel: null);
            try
            {
                var result = LearningRateFinder.Run(run.Network, run.Train.Source, run.Tune, finder);
                ch.Info(result.Reason);
                return result;
            }
            finally
            {
                run.Network.Dispose();
                run.Dispose();
            }
        }

        /// <summary>What a run starts from: the data read, the network built, the engine's options resolved.</summary>
        private sealed record PreparedRun(PretrainedWeights Weights, ImagePreprocessing Preprocessing,
            string[] ClassNames,
            TrainingRows Train, IImageBatchSource Validation, ResNet Network, FineTuneOptions Tune,
            int SkippedInvalidImages) : IDisposable
        {
            public void Dispose()
            {
                (Train.Source as IDisposable)?.Dispose();
                (Validation as IDisposable)?.Dispose();
            }
        }

        private PreparedRun Prepare(IChannel ch, IDataView trainData, FrozenResNetTransformer previousModel)
        {
            var labels = LabelColumn.Check(trainData.Schema, _options.LabelColumnName, "training data");
            CheckFeatureColumn(trainData.Schema);
            if (previousModel != null && !previousModel.Model.ClassNames.SequenceEqual(labels.ClassNames))
                throw _host.Except(
                    $"The previous model's classes ({string.Join(", ", previousModel.Model.ClassNames)}) " +
                    $"differ from the label column's keys ({string.Join(", ", labels.ClassNames)}).");
            int seed = _options.Seed ?? (_host as IHostEnvironmentInternal)?.Seed ?? 0;
            if (_options.NumberOfThreads.HasValue)
                TorchSharp.torch.set_num_threads(_options.NumberOfThreads.Value);
            // Continued training starts from the previous network, so it needs no weights (nor their file).
            var weights = previousModel != null ? null : ResolveWeights();
            var preprocessing = previousModel?.Model.Preprocessing
                ?? weights.Preprocessing.WithImageSize(_options.ImageSize);
            var train = ReadTraining(ch, trainData, labels, preprocessing, seed);
            var validation = ReadValidation(ch, labels, preprocessing, seed, ref train,
                out int invalidValidationImages);
            ResNet network = previousModel != null ? Copy(previousModel.Model.Network)
                : !weights.IsNone ? weights.CreateNetwork(labels.ClassNames.Length, seed)
                : new ResNet(ResNetDefinition.For(_options.Architecture, labels.ClassNames.Length), seed);
            // Continued training (null weights) freezes nothing unless told.
            int skipped = train.InvalidImages + invalidValidationImages;
            var tune = TuneOptions(ch, weights, validation != null, seed, skipped);
            tune.CheckpointIdentity = CheckpointIdentity(labels.ClassNames, preprocessing);
            return new PreparedRun(weights, preprocessing, labels.ClassNames, train, validation, network, tune,
                skipped);
        }

        private TrainingRows ReadTraining(IChannel ch, IDataView trainData, LabelColumn labels,
            ImagePreprocessing preprocessing, int seed)
        {
            var train = TrainingRows.Read(trainData, _options.FeatureColumnName, labels, preprocessing,
                _options.Augmentation, seed, DataRole.Training, _options.InvalidImagePolicy, CheckAlive);
            if (train.Source.Count == 0)
                throw _host.Except(
                    $"The training data has no rows with a label in column '{_options.LabelColumnName}'.");
            if (train.Skipped > 0)
                ch.Warning($"Skipped {train.Skipped} training rows with a missing label.");
            if (train.InvalidImages > 0)
                ch.Warning(train.DescribeInvalidImages("training data"));
            if (train.Labels.Distinct().Count() < 2)
                throw _host.Except(
                    $"The training data has only one class ('{labels.ClassNames[train.Labels[0]]}') in " +
                    $"label column '{_options.LabelColumnName}'; at least two are needed.");
            return train;
        }

        /// <summary>Loads the previous model's optimizer state when it has one for this optimizer; says what it
        /// did.</summary>
        private void ContinueOptimizer(IChannel ch, FineTuner tuner, FrozenResNetTransformer previousModel)
        {
            if (previousModel is null)
                return;
            if (previousModel.State is null)
                ch.Info("The previous model was saved without its optimizer state (SaveOptimizerState off): " +
                    "continuing from its weights with a fresh optimizer state.");
            else if (previousModel.State.Optimizer != _options.Optimizer)
                ch.Warning($"The previous model was trained with {previousModel.State.Optimizer}, this run uses " +
                    $"{_options.Optimizer}: its optimizer state is not reused.");
            else
            {
                using var reader = new BinaryReader(new MemoryStream(previousModel.State.OptimizerState));
                tuner.LoadOptimizerState(reader);
                ch.Info("Continuing from the previous model's weights and optimizer state.");
            }
        }

        /// <summary>The optimizer state kept with the model, when <see cref="Options.SaveOptimizerState"/>
        /// asks.</summary>
        private FrozenResNetTransformer.TrainingState OptimizerState(IChannel ch, FineTuner tuner)
        {
            if (!_options.SaveOptimizerState)
                return null;
            var stream = new MemoryStream();
            using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
                tuner.SaveOptimizerState(writer);
            ch.Info($"Keeping the optimizer state with the model ({stream.Length / 1e6:F1} MB).");
            return new FrozenResNetTransformer.TrainingState(_options.Optimizer, stream.ToArray());
        }

        /// <summary>Adds Score (float vector of the key count) and PredictedLabel (the label's key type).</summary>
        public SchemaShape GetOutputSchema(SchemaShape inputSchema)
        {
            _host.CheckValue(inputSchema, nameof(inputSchema));
            if (!inputSchema.TryFindColumn(_options.LabelColumnName, out var label))
                throw _host.ExceptSchemaMismatch(nameof(inputSchema), "label", _options.LabelColumnName);
            if (!label.IsKey)
                throw _host.Except(LabelColumn.NotAKey(_options.LabelColumnName, label.ItemType));
            ImageColumn.Check(_host, inputSchema, _options.FeatureColumnName, "feature");

            var columns = inputSchema.ToDictionary(c => c.Name);
            var scorer = new List<SchemaShape.Column>
            {
                new SchemaShape.Column(AnnotationUtils.Kinds.ScoreColumnKind, SchemaShape.Column.VectorKind.Scalar,
                    TextDataViewType.Instance, false),
                new SchemaShape.Column(AnnotationUtils.Kinds.ScoreValueKind, SchemaShape.Column.VectorKind.Scalar,
                    TextDataViewType.Instance, false),
                new SchemaShape.Column(AnnotationUtils.Kinds.ScoreColumnSetId, SchemaShape.Column.VectorKind.Scalar,
                    NumberDataViewType.UInt32, true),
            };
            var slotNames = new SchemaShape.Column(AnnotationUtils.Kinds.SlotNames,
                SchemaShape.Column.VectorKind.Vector, TextDataViewType.Instance, false);
            columns[_options.ScoreColumnName] = new SchemaShape.Column(_options.ScoreColumnName,
                SchemaShape.Column.VectorKind.Vector,
                NumberDataViewType.Single, false, new SchemaShape(scorer.Append(slotNames)));
            var keyValues = label.Annotations.TryFindColumn(AnnotationUtils.Kinds.KeyValues, out var kv) ? new[] { kv }
                : Array.Empty<SchemaShape.Column>();
            columns[_options.PredictedLabelColumnName] = new SchemaShape.Column(_options.PredictedLabelColumnName,
                SchemaShape.Column.VectorKind.Scalar,
                NumberDataViewType.UInt32, true, new SchemaShape(scorer.Concat(keyValues)));
            return new SchemaShape(columns.Values);
        }

        private void CheckFeatureColumn(DataViewSchema schema)
            => ImageColumn.Index(_host, schema, _options.FeatureColumnName, "feature");

        /// <summary>
        /// The weights training starts from (<see cref="TrainingDefaults.Weights"/>), checked against Architecture.
        /// </summary>
        private PretrainedWeights ResolveWeights()
        {
            PretrainedWeights weights;
            try
            {
                weights = TrainingDefaults.Weights(_options.PretrainedWeights,
                    _options.ArchitectureWasSet ? _options.Architecture : null);
            }
            catch (ArgumentException ex)
            {
                throw _host.Except(ex.Message);
            }
            CheckArchitecture(weights);
            return weights;
        }

        private void CheckArchitecture(PretrainedWeights weights)
        {
            if (weights?.Architecture != null && _options.ArchitectureWasSet
                && weights.Architecture != _options.Architecture)
                throw _host.Except(
                    $"Architecture is {_options.Architecture}, but the pretrained weights ({weights.Description}) " +
                    $"are a {weights.Architecture}; the weights define the network, so leave Architecture unset or " +
                    "make them agree.");
        }

        private IImageBatchSource ReadValidation(IChannel ch, LabelColumn labels, ImagePreprocessing preprocessing,
            int seed, ref TrainingRows train, out int invalidImages)
        {
            invalidImages = 0;
            if (_options.ValidationSet != null)
            {
                var schema = _options.ValidationSet.Schema;
                var validationLabels = LabelColumn.Check(schema, _options.LabelColumnName, "validation set");
                CheckFeatureColumn(schema);
                if (!validationLabels.ClassNames.SequenceEqual(labels.ClassNames))
                    throw _host.Except(
                        $"The validation set's label keys ({string.Join(", ", validationLabels.ClassNames)}) differ " +
                        $"from the training data's ({string.Join(", ", labels.ClassNames)}); pass it through the " +
                        "same fitted pipeline.");
                var rows = TrainingRows.Read(_options.ValidationSet, _options.FeatureColumnName, validationLabels,
                    preprocessing, ImageAugmentation.None, seed, DataRole.Validation, _options.InvalidImagePolicy,
                    CheckAlive);
                invalidImages = rows.InvalidImages;
                if (invalidImages > 0)
                    ch.Warning(rows.DescribeInvalidImages("validation set"));
                if (rows.Skipped > 0)
                    throw _host.Except(
                        $"The validation set has {rows.Skipped} rows whose label is missing or not a key of the " +
                        $"training data (first: row {rows.FirstSkippedRow}); MapValueToKey maps labels it did not " +
                        "see in training to the missing key.");
                var trained = new HashSet<int>(train.Labels);
                int unseen = rows.Labels.FirstOrDefault(l => !trained.Contains(l), -1);
                if (unseen >= 0)
                    throw _host.Except(
                        $"The validation set has label '{labels.ClassNames[unseen]}', which the training data lacks.");
                return rows.Source;
            }
            if (_options.ValidationFraction == 0)
                return null;
            var split = ValidationSplit.Stratified(train.Labels, _options.ValidationFraction, seed);
            ch.Info(split.Describe(labels.ClassNames));
            if (!split.HoldsOut)
                return null;
            var (kept, heldOut) = train.Split(split);
            train = kept;
            return heldOut;
        }

        // Cancellation (MLContext.CancelExecution() or the token) between rows while the data is read.
        private void CheckAlive()
        {
            _host.CheckAlive();
            _options.CancellationToken.ThrowIfCancellationRequested();
        }

        /// <summary>
        /// The engine's options: every shared setting copied by the record's copy constructor, the automatic ones
        /// resolved for <paramref name="weights"/> (null when continuing a fitted model) by
        /// <see cref="TrainingDefaults"/>, and the trainer's hooks.
        /// </summary>
        private FineTuneOptions TuneOptions(IChannel ch, PretrainedWeights weights, bool hasValidation, int seed,
            int skippedInvalidImages) => new FineTuneOptions(_options)
        {
            LearningRate = TrainingDefaults.LearningRate(_options.LearningRate, weights),
            Freeze = TrainingDefaults.Freeze(_options.Freeze, weights),
            Unfreezing = TrainingDefaults.Unfreezing(_options.Unfreezing, weights, _options.Epochs),
            RestoreBestEpoch = hasValidation && _options.RestoreBestEpoch,
            Seed = seed,
            EpochCallback = record =>
                _options.MetricsCallback?.Invoke(new FrozenResNetEpoch(record, skippedInvalidImages)),
            // MLContext.CancelExecution() takes effect within one batch.
            CheckAlive = _host.CheckAlive,
            BatchCallback = progress =>
            {
                _host.CheckAlive();
                _options.BatchCallback?.Invoke(progress);
            },
            Log = ch.Info,
        };

        /// <summary>What the engine cannot see of a run, for a checkpoint's fingerprint.</summary>
        private List<KeyValuePair<string, string>> CheckpointIdentity(string[] classNames,
            ImagePreprocessing preprocessing)
            => new List<KeyValuePair<string, string>>
            {
                new("class names", string.Join(", ", classNames)),
                new("preprocessing", preprocessing.ToString()),
                new(nameof(Options.Augmentation), _options.Augmentation.ToString()),
            };

        /// <summary>The resolved settings, for the log.</summary>
        private string Describe(FineTuneOptions tune, string start, bool hasValidation)
            => string.Create(CultureInfo.InvariantCulture,
                $"Starting from {start}: learning rate {tune.LearningRate:g3}" +
                $"{(_options.LearningRate is null ? " (automatic)" : "")}, " +
                $"freeze {tune.Freeze}, unfreeze {tune.Unfreezing}" +
                $"{(_options.EarlyStopping is null && hasValidation && _options.RestoreBestEpoch
                    ? ", best epoch by validation loss kept" : "")}.");

        private static ResNet Copy(ResNet source)
        {
            var copy = new ResNet(source.Definition, seed: 0);
            copy.load_state_dict(source.state_dict(), strict: true);
            return copy;
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Linq;
using Microsoft.ML.Data;

namespace Microsoft.ML.Freezing
{
    /// <summary>The key-typed label column: its key count and the class names (its key values, in key order).</summary>
    internal sealed class LabelColumn
    {
        private LabelColumn(DataViewSchema.Column column, string[] classNames)
        {
            Column = column;
            ClassNames = classNames;
        }

        public DataViewSchema.Column Column { get; }
        public string[] ClassNames { get; }

        public static string NotAKey(string name, DataViewType type)
            => $"Label column '{name}' must be a key type (use MapValueToKey on it first); found {type}.";

        /// <summary>Checks that <paramref name="name"/> is a key column with a known count; errors name the column and
        /// the data.</summary>
        public static LabelColumn Check(DataViewSchema schema, string name, string where)
        {
            var column = schema.GetColumnOrNull(name)
                ?? throw new ArgumentOutOfRangeException(nameof(name), $"The {where} has no label column '{name}'.");
            if (!(column.Type is KeyDataViewType key))
                throw new ArgumentOutOfRangeException(nameof(name), NotAKey(name, column.Type));
            if (key.Count < 1 || key.Count > int.MaxValue)
                throw new ArgumentOutOfRangeException(nameof(name),
                    $"Label column '{name}' has a key type of unknown or huge size ({key.Count}).");
            if (key.RawType != typeof(uint))
                throw new ArgumentOutOfRangeException(nameof(name),
                    $"Label column '{name}' must be a UInt32 key (MapValueToKey's default); found {key}.");
            int count = (int)key.Count;
            return new LabelColumn(column,
                ReadKeyValues(column, count)
                ?? Enumerable.Range(1, count).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))
                .ToArray());
        }

        private static string[] ReadKeyValues(DataViewSchema.Column column, int count)
        {
            var annotation = column.Annotations.Schema.GetColumnOrNull(AnnotationUtils.Kinds.KeyValues);
            if (annotation == null || !(annotation.Value.Type is VectorDataViewType vector))
                return null;
            var read = typeof(LabelColumn)
                .GetMethod(nameof(ReadValues),
                System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)
                .MakeGenericMethod(vector.ItemType.RawType);
            var names = (string[])read.Invoke(null, new object[] { column.Annotations, annotation.Value });
            return names.Length == count ? names : null;
        }

        private static string[] ReadValues<T>(DataViewSchema.Annotations annotations, DataViewSchema.Column annotation)
        {
            VBuffer<T> values = default;
            annotations.GetValue(annotation.Name, ref values);
            return values.DenseValues().Select(v => v?.ToString() ?? "").ToArray();
        }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;

namespace Microsoft.ML.Freezing
{
    /// <summary>Which input of a model an image row was read from.</summary>
    public enum DataRole
    {
        /// <summary>The training data given to <c>Fit</c>.</summary>
        Training = 0,
        /// <summary>The trainer's validation set.</summary>
        Validation = 1,
        /// <summary>Data given to <c>Transform</c> or a <c>PredictionEngine</c>.</summary>
        Scoring = 2,
    }

    /// <summary>
    /// A row whose image cannot be read: undecodable, truncated, empty, missing or too large, or the upstream transform
    /// that produces the column failed for that row. The message reads
    /// <c>Column '&lt;column&gt;', row &lt;row&gt;[ ('&lt;path&gt;')]: &lt;reason&gt;.</c>; the decoder's own
    /// <see cref="InvalidDataException"/>, when there was one, is the inner exception.
    /// </summary>
    /// <remarks>
    /// The row is its position in the <see cref="IDataView"/> given to <c>Fit</c> or <c>Transform</c> (for
    /// <c>LoadFromEnumerable</c>, the index in the enumerable), so a caller that read the images from files maps it
    /// back to a path with <see cref="Row"/> and <see cref="Role"/>. The path itself is known only when ML.NET's
    /// <c>LoadImages</c> produced the image. (Not an <see cref="InvalidDataException"/>: that class is sealed.)
    /// </remarks>
    public sealed class InvalidImageException : Exception
    {
        internal InvalidImageException(string column, long row, string reason, string path = null,
            Exception inner = null)
            : base($"Column '{column}', row {row}{(path != null ? $" ('{path}')" : "")}: {reason.TrimEnd('.')}.", inner)
        {
            Column = column;
            Row = row;
            ImagePath = path;
        }

        /// <summary>The image column.</summary>
        public string Column { get; }
        /// <summary>The row's position in the data view it was read from.</summary>
        public long Row { get; }
        /// <summary>The image's file, when known (<c>LoadImages</c>); else null.</summary>
        public string ImagePath { get; }
        /// <summary>
        /// Which input the row belongs to: the row number alone is ambiguous when a training and a validation view both
        /// exist. <see cref="DataRole.Scoring"/> outside the trainer's reading of its inputs.
        /// </summary>
        public DataRole Role { get; internal set; } = DataRole.Scoring;

        /// <summary>The first such error in <paramref name="exception"/> or its inner exceptions, or null.</summary>
        public static InvalidImageException Find(Exception exception)
        {
            for (var ex = exception; ex != null; ex = ex.InnerException)
            {
                if (ex is InvalidImageException invalid)
                    return invalid;
            }
            return null;
        }
    }

    internal static class DataRoles
    {
        /// <summary>How messages name the input: "training data", "validation set", "scored data".</summary>
        public static string Describe(this DataRole role) => role switch
        {
            DataRole.Training => "training data",
            DataRole.Validation => "validation set",
            _ => "scored data",
        };
    }
}

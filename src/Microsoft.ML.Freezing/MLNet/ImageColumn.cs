using System;
using System.IO;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;

namespace Microsoft.ML.Freezing
{
    /// <summary>What training does with a row whose image cannot be read.</summary>
    public enum InvalidImagePolicy
    {
        /// <summary>Stop with an <see cref="InvalidDataException"/> that names the column and the row (<see cref="InvalidImageError"/>).</summary>
        Fail = 0,
        /// <summary>
        /// Leave the row out and count it: the count is in every <see cref="EpochRecord.SkippedInvalidImages"/> of the run
        /// and in a warning in ML.NET's log, with the first few reasons. Training fails when no valid row is left.
        /// </summary>
        Skip = 1,
    }

    /// <summary>
    /// Reads the row named by an invalid-image error. Such an error is an <see cref="InvalidDataException"/> whose message
    /// reads <c>Column '&lt;column&gt;', row &lt;row&gt;[ ('&lt;path&gt;')]: &lt;reason&gt;.</c>; it is thrown when a row's
    /// image is undecodable, truncated, empty, missing or too large, or when the upstream transform that produces the
    /// column fails for that row.
    /// </summary>
    /// <remarks>
    /// The row is its position in the <see cref="IDataView"/> given to <c>Fit</c> or <c>Transform</c> (for
    /// <c>LoadFromEnumerable</c>, the index in the enumerable), so a caller that read the images from files maps it back to
    /// a path. The path itself is known only when ML.NET's <c>LoadImages</c> produced the image.
    /// </remarks>
    public static class InvalidImageError
    {
        private const string ColumnKey = "Microsoft.ML.Freezing.InvalidImage.Column";
        private const string RowKey = "Microsoft.ML.Freezing.InvalidImage.Row";
        private const string PathKey = "Microsoft.ML.Freezing.InvalidImage.Path";
        private const string DataNameKey = "Microsoft.ML.Freezing.InvalidImage.DataName";

        /// <summary>
        /// Whether <paramref name="exception"/> (or an exception inside it) is an invalid-image error, and the column, row and
        /// path (null when unknown) it names.
        /// </summary>
        public static bool TryGetRow(Exception exception, out string column, out long row, out string imagePath)
        {
            for (var ex = exception; ex != null; ex = ex.InnerException)
            {
                if (Is(ex))
                {
                    column = (string)ex.Data[ColumnKey];
                    row = (long)ex.Data[RowKey];
                    imagePath = ex.Data[PathKey] as string;
                    return true;
                }
            }
            column = null;
            row = -1;
            imagePath = null;
            return false;
        }

        /// <summary>
        /// As <see cref="TryGetRow(Exception, out string, out long, out string)"/>, and which of the trainer's inputs the row
        /// belongs to: <c>"training data"</c> or <c>"validation set"</c> (null when the error did not arise while the trainer
        /// read its inputs, e.g. in <c>Transform</c>).
        /// </summary>
        public static bool TryGetRow(Exception exception, out string column, out long row, out string imagePath, out string dataName)
        {
            for (var ex = exception; ex != null; ex = ex.InnerException)
            {
                if (Is(ex))
                {
                    TryGetRow(ex, out column, out row, out imagePath);
                    dataName = ex.Data[DataNameKey] as string;
                    return true;
                }
            }
            TryGetRow(exception, out column, out row, out imagePath);
            dataName = null;
            return false;
        }

        internal static void SetDataName(Exception exception, string dataName) => exception.Data[DataNameKey] = dataName;

        /// <summary>Whether <paramref name="exception"/> itself is an invalid-image error.</summary>
        internal static bool Is(Exception exception)
            => exception is InvalidDataException && exception.Data[RowKey] is long && exception.Data[ColumnKey] is string;

        internal static InvalidDataException Create(string column, long row, string reason, string path = null, Exception inner = null)
        {
            var ex = new InvalidDataException($"Column '{column}', row {row}{(path != null ? $" ('{path}')" : "")}: {reason.TrimEnd('.')}.", inner);
            ex.Data[ColumnKey] = column;
            ex.Data[RowKey] = row;
            if (path != null)
                ex.Data[PathKey] = path;
            return ex;
        }
    }

    /// <summary>
    /// Reads the image column of a row into the RGB pixels of a model's preprocessing. The column holds encoded bytes
    /// (<c>byte[]</c>/<c>VBuffer&lt;byte&gt;</c>, as Model Builder and <c>LoadRawImageBytes</c> give) or an <see cref="MLImage"/>
    /// (<c>LoadImages</c>). Every failure to read a row's image, including an exception of the upstream transform that
    /// produces the column, is an invalid-image error naming the column and the row (<see cref="InvalidImageError"/>).
    /// </summary>
    internal static class ImageColumn
    {
        /// <summary>Whether a column type is a supported image column.</summary>
        public static bool IsSupported(DataViewType type)
            => type is ImageDataViewType || (type is VectorDataViewType v && v.ItemType == NumberDataViewType.Byte);

        /// <summary>The message for a column of another type.</summary>
        public static string Unsupported(string column, object type)
            => $"Feature column '{column}' must hold encoded image bytes (byte[] / VBuffer<Byte>, e.g. from LoadRawImageBytes) " +
               $"or MLImage (from LoadImages); found {type}.";

        /// <summary>A function that reads and preprocesses the current row's image.</summary>
        /// <exception cref="InvalidDataException">The row's image cannot be read (<see cref="InvalidImageError"/>).</exception>
        public static Func<byte[]> MakeReader(DataViewRow row, DataViewSchema.Column column, ImagePreprocessing preprocessing)
        {
            if (column.Type is ImageDataViewType)
            {
                var getter = row.GetGetter<MLImage>(column);
                MLImage image = null;
                return () =>
                {
                    Upstream(() => getter(ref image), column.Name, row.Position);
                    if (image == null)
                        throw InvalidImageError.Create(column.Name, row.Position, "the image is missing");
                    string path = image.Tag as string;
                    if (image.PixelFormat != MLPixelFormat.Bgra32 && image.PixelFormat != MLPixelFormat.Rgba32)
                        throw InvalidImageError.Create(column.Name, row.Position, $"unsupported pixel format {image.PixelFormat}", path);
                    try
                    {
                        return preprocessing.ResizePixels(image.Pixels, image.Width, image.Height, image.PixelFormat == MLPixelFormat.Bgra32);
                    }
                    catch (Exception ex) when (ex is ArgumentException || ex is InvalidDataException)
                    {
                        throw InvalidImageError.Create(column.Name, row.Position, ex.Message, path, ex);
                    }
                };
            }
            if (column.Type is VectorDataViewType v && v.ItemType == NumberDataViewType.Byte)
            {
                var getter = row.GetGetter<VBuffer<byte>>(column);
                VBuffer<byte> bytes = default;
                return () =>
                {
                    Upstream(() => getter(ref bytes), column.Name, row.Position);
                    if (bytes.Length == 0)
                        throw InvalidImageError.Create(column.Name, row.Position, "the image bytes are empty");
                    try
                    {
                        return bytes.IsDense ? preprocessing.DecodeAndResize(bytes.GetValues()) : preprocessing.DecodeAndResize(bytes.DenseValues().ToArray());
                    }
                    catch (InvalidDataException ex)
                    {
                        throw InvalidImageError.Create(column.Name, row.Position, ex.Message, null, ex);
                    }
                };
            }
            throw new ArgumentOutOfRangeException(nameof(column), Unsupported(column.Name, column.Type));
        }

        // The getter runs the upstream transforms of this row (LoadImages decodes, LoadRawImageBytes reads the file):
        // their failures belong to the row too. Cancellation and running out of memory are not the row's fault.
        private static void Upstream(Action get, string column, long row)
        {
            try
            {
                get();
            }
            catch (Exception ex) when (!(ex is OperationCanceledException || ex is OutOfMemoryException || InvalidImageError.Is(ex)))
            {
                throw InvalidImageError.Create(column, row, $"the image could not be read ({ex.GetType().Name}: {ex.Message})", null, ex);
            }
        }
    }
}

using System;
using System.IO;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;

namespace Microsoft.ML.Freezing
{
    /// <summary>
    /// Reads the image column of a row into the RGB pixels of a model's preprocessing. The column holds encoded bytes
    /// (<c>byte[]</c>/<c>VBuffer&lt;byte&gt;</c>, as Model Builder and <c>LoadRawImageBytes</c> give) or an <see cref="MLImage"/>
    /// (<c>LoadImages</c>). Errors name the column and the row.
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
        public static Func<byte[]> MakeReader(DataViewRow row, DataViewSchema.Column column, ImagePreprocessing preprocessing)
        {
            if (column.Type is ImageDataViewType)
            {
                var getter = row.GetGetter<MLImage>(column);
                MLImage image = null;
                return () =>
                {
                    getter(ref image);
                    if (image == null)
                        throw Error(column.Name, row.Position, "the image is missing");
                    if (image.PixelFormat != MLPixelFormat.Bgra32 && image.PixelFormat != MLPixelFormat.Rgba32)
                        throw Error(column.Name, row.Position, $"unsupported pixel format {image.PixelFormat}");
                    return preprocessing.ResizePixels(image.Pixels, image.Width, image.Height, image.PixelFormat == MLPixelFormat.Bgra32);
                };
            }
            if (column.Type is VectorDataViewType v && v.ItemType == NumberDataViewType.Byte)
            {
                var getter = row.GetGetter<VBuffer<byte>>(column);
                VBuffer<byte> bytes = default;
                return () =>
                {
                    getter(ref bytes);
                    if (bytes.Length == 0)
                        throw Error(column.Name, row.Position, "the image bytes are empty");
                    try
                    {
                        return bytes.IsDense ? preprocessing.DecodeAndResize(bytes.GetValues()) : preprocessing.DecodeAndResize(bytes.DenseValues().ToArray());
                    }
                    catch (InvalidDataException ex)
                    {
                        throw Error(column.Name, row.Position, ex.Message, ex);
                    }
                };
            }
            throw new ArgumentOutOfRangeException(nameof(column), Unsupported(column.Name, column.Type));
        }

        private static InvalidDataException Error(string column, long row, string what, Exception inner = null)
            => new InvalidDataException($"Column '{column}', row {row}: {what}.", inner);
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.IO;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.Transforms.Image;

namespace Microsoft.ML.Freezing
{
    /// <summary>What training does with a row whose image cannot be read.</summary>
    public enum InvalidImagePolicy
    {
        /// <summary>Stop with an <see cref="InvalidImageException"/> that names the column and the row.</summary>
        Fail = 0,
        /// <summary>
        /// Leave the row out and count it: the count is in every
        /// <see cref="FrozenResNetEpoch.SkippedInvalidImages"/> of the run and in a warning in ML.NET's log, with the
        /// first few reasons. Training fails when no valid row is left.
        /// </summary>
        Skip = 1,
    }

    /// <summary>
    /// Reads the image column of a row into the RGB pixels of a model's preprocessing. The column holds encoded bytes
    /// (<c>byte[]</c>/<c>VBuffer&lt;byte&gt;</c>, as Model Builder and <c>LoadRawImageBytes</c> give) or an
    /// <see cref="MLImage"/> (<c>LoadImages</c>). Every failure to read a row's image, including an exception of the
    /// upstream transform that produces the column, is an <see cref="InvalidImageException"/> naming the column and
    /// the row.
    /// </summary>
    internal static class ImageColumn
    {
        /// <summary>Whether a column type is a supported image column.</summary>
        public static bool IsSupported(DataViewType type)
            => type is ImageDataViewType || (type is VectorDataViewType v && v.ItemType == NumberDataViewType.Byte);

        /// <summary>
        /// Index of image column <paramref name="name"/> in <paramref name="schema"/>, with a clear error when it is
        /// absent or of another type; <paramref name="role"/> ("feature", "image") names it in the error, and
        /// <paramref name="parameter"/> the caller's argument.
        /// </summary>
        public static int Index(IExceptionContext host, DataViewSchema schema, string name, string role,
            string parameter = "schema")
        {
            var column = schema.GetColumnOrNull(name) ?? throw host.ExceptSchemaMismatch(parameter, role, name);
            if (!IsSupported(column.Type))
                throw host.Except(Unsupported(name, column.Type));
            return column.Index;
        }

        /// <summary>As <see cref="Index"/>, for an estimator's schema shape.</summary>
        public static void Check(IExceptionContext host, SchemaShape shape, string name, string role)
        {
            if (!shape.TryFindColumn(name, out var column))
                throw host.ExceptSchemaMismatch("inputSchema", role, name);
            bool bytes = column.Kind == SchemaShape.Column.VectorKind.VariableVector
                && column.ItemType == NumberDataViewType.Byte;
            if (!bytes && !(column.ItemType is ImageDataViewType))
                throw host.Except(Unsupported(name, column.ItemType));
        }

        /// <summary>The message for a column of another type.</summary>
        public static string Unsupported(string column, object type)
            => $"Feature column '{column}' must hold encoded image bytes (byte[] / VBuffer<Byte>, e.g. from " +
                "LoadRawImageBytes) " +
               $"or MLImage (from LoadImages); found {type}.";

        /// <summary>
        /// A function that reads and preprocesses the current row's image. With <paramref name="reuse"/> (a caller
        /// that is done with the pixels before it reads the next row) encoded images are decoded into one array,
        /// returned by every call.
        /// </summary>
        /// <exception cref="InvalidImageException">The row's image cannot be read.</exception>
        public static Func<byte[]> MakeReader(DataViewRow row, DataViewSchema.Column column,
            ImagePreprocessing preprocessing, bool reuse = false)
        {
            if (IsBytes(column))
            {
                // Decoded from the getter's own buffer: no copy on the prediction path.
                var getter = row.GetGetter<VBuffer<byte>>(column);
                VBuffer<byte> bytes = default;
                byte[] pixels = null;
                return () =>
                {
                    long position = ReadBytes(getter, ref bytes, column.Name, row);
                    var decoded = bytes.IsDense
                        ? Decode(bytes.GetValues(), column.Name, position, preprocessing, pixels)
                        : Decode(bytes.DenseValues().ToArray(), column.Name, position, preprocessing, pixels);
                    if (reuse)
                        pixels = decoded;
                    return decoded;
                };
            }
            var fetch = MakeFetcher(row, column, preprocessing);
            return () => fetch()();
        }

        /// <summary>
        /// A function that reads the current row's image (running the upstream transforms) and returns the rest of
        /// the work, decoding and resizing, as a function that any thread may run later, after the row has moved on.
        /// </summary>
        /// <exception cref="InvalidImageException">The row's image cannot be read (from either function).</exception>
        public static Func<Func<byte[]>> MakeFetcher(DataViewRow row, DataViewSchema.Column column,
            ImagePreprocessing preprocessing)
        {
            if (column.Type is ImageDataViewType)
            {
                // The getter may reuse or dispose its MLImage at the next row: resize now.
                var getter = row.GetGetter<MLImage>(column);
                MLImage image = null;
                return () =>
                {
                    Upstream(() => getter(ref image), column.Name, row.Position);
                    var pixels = Resize(image, column.Name, row.Position, preprocessing);
                    return () => pixels;
                };
            }
            if (IsBytes(column))
            {
                // The getter reuses its buffer at the next row: copy the encoded bytes.
                var getter = row.GetGetter<VBuffer<byte>>(column);
                VBuffer<byte> bytes = default;
                return () =>
                {
                    long position = ReadBytes(getter, ref bytes, column.Name, row);
                    var encoded = bytes.IsDense ? bytes.GetValues().ToArray() : bytes.DenseValues().ToArray();
                    return () => Decode(encoded, column.Name, position, preprocessing);
                };
            }
            throw new ArgumentOutOfRangeException(nameof(column), Unsupported(column.Name, column.Type));
        }

        private static byte[] Resize(MLImage image, string column, long position, ImagePreprocessing preprocessing)
        {
            if (image == null)
                throw new InvalidImageException(column, position, "the image is missing");
            string path = image.Tag as string;
            if (image.PixelFormat != MLPixelFormat.Bgra32 && image.PixelFormat != MLPixelFormat.Rgba32)
                throw new InvalidImageException(column, position, $"unsupported pixel format {image.PixelFormat}",
                    path);
            try
            {
                return preprocessing.ResizePixels(image.Pixels, image.Width, image.Height,
                    image.PixelFormat == MLPixelFormat.Bgra32);
            }
            catch (Exception ex) when (ex is ArgumentException || ex is InvalidDataException)
            {
                throw new InvalidImageException(column, position, ex.Message, path, ex);
            }
        }

        private static bool IsBytes(DataViewSchema.Column column)
            => column.Type is VectorDataViewType v && v.ItemType == NumberDataViewType.Byte;

        // Runs the getter for the current row; returns the row's position.
        private static long ReadBytes(ValueGetter<VBuffer<byte>> getter, ref VBuffer<byte> bytes, string column,
            DataViewRow row)
        {
            long position = row.Position;
            var buffer = bytes;
            Upstream(() => getter(ref buffer), column, position);
            bytes = buffer;
            if (bytes.Length == 0)
                throw new InvalidImageException(column, position, "the image bytes are empty");
            return position;
        }

        private static byte[] Decode(ReadOnlySpan<byte> encoded, string column, long position,
            ImagePreprocessing preprocessing, byte[] into = null)
        {
            try
            {
                return preprocessing.DecodeAndResizeInto(encoded, into);
            }
            catch (InvalidDataException ex)
            {
                throw new InvalidImageException(column, position, ex.Message, null, ex);
            }
        }

        // The getter runs the upstream transforms of this row (LoadImages decodes, LoadRawImageBytes reads the file):
        // their failures belong to the row too. Cancellation and running out of memory are not the row's fault.
        private static void Upstream(Action get, string column, long row)
        {
            try
            {
                get();
            }
            catch (Exception ex) when (!(ex is OperationCanceledException || ex is OutOfMemoryException
                || ex is InvalidImageException))
            {
                throw new InvalidImageException(column, row,
                    $"the image could not be read ({ex.GetType().Name}: {ex.Message})", null, ex);
            }
        }
    }
}

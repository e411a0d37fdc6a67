using System.CommandLine;
using Mesh.Config;

namespace Mesh.Cli.Commands;

/// <summary>`mesh config check FILE`: validates a config without applying it.</summary>
internal static class ConfigCommand
{
    public static Command Create()
    {
        var file = new Argument<FileInfo>("file") { Description = "the YAML config to validate" };
        var check = new Command("check", "Validate a config file without applying it; errors are printed as file:line:column: message.") { file };
        check.SetAction(result => Check(result.GetValue(file)!));
        return new Command("config", "Work with Mesh config files.") { check };
    }

    private static int Check(FileInfo file)
    {
        var result = new MeshConfigLoader().Load(file.FullName);
        if (result.IsValid)
        {
            Console.WriteLine($"{file.FullName}: valid");
            var services = result.Config.Services.ToDictionary(s => s.Name, StringComparer.Ordinal);
            foreach (var service in result.Config.Services)
            {
                Console.WriteLine($"  {service.Name} ({service.EndPoint}): {EndpointsOf(service)}");
                foreach (var (rule, index) in service.Rules.Select((rule, index) => (rule, index)).Where(r => r.rule.Authorization is not null))
                {
                    var allowed = rule.Authorization!.AllowFrom.Select(name => $"{name} ({ClientsOf(services[name].Source!)})");
                    Console.WriteLine($"    rule {rule.Name ?? index.ToString(System.Globalization.CultureInfo.InvariantCulture)}: only from {string.Join("; ", allowed)}");
                }
            }
            return 0;
        }
        foreach (var error in result.Errors)
        {
            Console.Error.WriteLine(error);
        }
        return CliError.ExitCode;
    }

    /// <summary>Where a service's connections go, so that a service with neither endpoints nor a selector is no surprise.</summary>
    private static string EndpointsOf(ServiceConfig service) => service switch
    {
        { Selector.Count: > 0 } => $"the running containers labelled {Describe(service.Selector)}",
        { Endpoints: [var only] } when only.Equals(service.EndPoint) =>
            $"no 'endpoints' or 'selector': connections go to {service.EndPoint} itself, which must have a listener",
        _ => $"endpoints {string.Join(", ", service.Endpoints)}",
    };

    /// <summary>The connections a source recognises, as the proxy tells them apart.</summary>
    private static string ClientsOf(ServiceSource source) => string.Join(" or ", new[]
    {
        source.Cidrs.Count > 0 ? $"addresses in {string.Join(", ", source.Cidrs)}" : null,
        source.Cgroup is { } cgroup ? $"processes of cgroup {cgroup}" : null,
        source.Workload is { } workload ? $"the workload '{workload}'" : null,
        source.Labels.Count > 0 ? $"workloads labelled {Describe(source.Labels)}" : null,
    }.OfType<string>());

    private static string Describe(IReadOnlyList<LabelMatch> labels) => string.Join(", ", labels.Select(l => $"{l.Key}={l.Value}"));
}

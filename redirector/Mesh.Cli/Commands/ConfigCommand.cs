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
            foreach (var service in result.Config.Services)
            {
                Console.WriteLine($"  {service.Name} ({service.EndPoint}): {EndpointsOf(service)}");
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
        { Selector.Count: > 0 } => $"the running containers labelled {string.Join(", ", service.Selector.Select(l => $"{l.Key}={l.Value}"))}",
        { Endpoints: [var only] } when only.Equals(service.EndPoint) =>
            $"no 'endpoints' or 'selector': connections go to {service.EndPoint} itself, which must have a listener",
        _ => $"endpoints {string.Join(", ", service.Endpoints)}",
    };
}

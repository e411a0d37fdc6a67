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
            return 0;
        }
        foreach (var error in result.Errors)
        {
            Console.Error.WriteLine(error);
        }
        return CliError.ExitCode;
    }
}

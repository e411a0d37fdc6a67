using Mesh.Cli.Commands;

var parsed = MeshCommandLine.Create().Parse(args);
if (parsed.Errors.Count > 0)
{
    // One line, as for every other error, instead of System.CommandLine's message followed by the help text.
    return CliError.Report($"{string.Join("; ", parsed.Errors.Select(error => error.Message))} (see 'mesh --help')");
}
return await parsed.InvokeAsync();

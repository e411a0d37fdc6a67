using Mesh.Cli.Commands;

return await MeshCommandLine.Create().Parse(args).InvokeAsync();

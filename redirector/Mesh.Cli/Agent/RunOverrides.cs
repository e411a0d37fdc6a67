namespace Mesh.Cli.Agent;

/// <summary>`mesh run` flags that take precedence over the config file; null means "as the config says".</summary>
internal sealed record RunOverrides(string? CgroupPath, string? PinDirectory, bool NoSplice, string? ObjectDirectory);

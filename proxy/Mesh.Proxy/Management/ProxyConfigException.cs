namespace Mesh.Proxy.Management;

/// <summary>A proxy configuration was refused; the previous configuration stays in effect.</summary>
public sealed class ProxyConfigException : Exception
{
    /// <summary>Creates the exception from validation errors.</summary>
    public ProxyConfigException(IReadOnlyList<string> errors)
        : base($"The proxy configuration was refused ({errors.Count} error(s)): " + string.Join("; ", errors))
    {
        Errors = errors;
    }

    /// <summary>One line per problem, each starting with the path of the offending value.</summary>
    public IReadOnlyList<string> Errors { get; }
}

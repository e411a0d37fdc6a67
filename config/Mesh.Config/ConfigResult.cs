using System.Diagnostics.CodeAnalysis;

namespace Mesh.Config;

/// <summary>Either a valid config or every error found in the file, never both.</summary>
public sealed class ConfigResult
{
    private ConfigResult(MeshConfig? config, IReadOnlyList<ConfigError> errors)
    {
        Config = config;
        Errors = errors;
    }

    /// <summary>The config, when the file had no errors.</summary>
    public MeshConfig? Config { get; }

    /// <summary>Every error found, in file order; empty when <see cref="IsValid"/>.</summary>
    public IReadOnlyList<ConfigError> Errors { get; }

    [MemberNotNullWhen(true, nameof(Config))]
    public bool IsValid => Config is not null;

    public static ConfigResult Success(MeshConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new ConfigResult(config, []);
    }

    public static ConfigResult Failure(IReadOnlyList<ConfigError> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        if (errors.Count == 0)
        {
            throw new ArgumentException("a failed result needs at least one error", nameof(errors));
        }
        return new ConfigResult(null, errors);
    }
}

using System.Globalization;

namespace Mesh.Config.Tests.Fuzzing;

/// <summary>
/// The seed every fuzz test draws from: fixed, so a run is repeatable and a failure reproducible,
/// unless MESH_FUZZ_SEED gives another (decimal, or hex with 0x) to explore new documents.
/// </summary>
internal static class FuzzSeed
{
    public const string Variable = "MESH_FUZZ_SEED";

    /// <summary>The seed when <see cref="Variable"/> is not set.</summary>
    public const ulong Default = 20261125;

    public static ulong Value { get; } = Read();

    /// <summary>How to run the same documents again, for test output and failure messages.</summary>
    public static string Describe() => $"seed {Value} (set {Variable}={Value} to run the same documents again)";

    private static ulong Read()
    {
        var text = Environment.GetEnvironmentVariable(Variable)?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            return Default;
        }
        var parsed = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.TryParse(text[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var hex) ? hex : (ulong?)null
            : ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var dec) ? dec : null;
        return parsed ?? throw new InvalidOperationException($"{Variable} is '{text}'; set it to a whole number such as {Default}, or 0x1f for hex");
    }
}

using System.Text.Json.Serialization;

namespace Mesh.Agent.Flows;

/// <summary>
/// One flow event as `mesh flows` shows it, with names resolved: what the kernel did, between
/// which endpoints, and which service or L4 rule it concerned. Serialized as one JSON line.
/// </summary>
public sealed record FlowRecord(
    [property: JsonPropertyName("time")] DateTimeOffset Time,
    [property: JsonPropertyName("verdict")] string Verdict,
    [property: JsonPropertyName("protocol")] string Protocol,
    [property: JsonPropertyName("source")] string Source,
    [property: JsonPropertyName("destination")] string Destination,
    [property: JsonPropertyName("service")] string? Service,
    [property: JsonPropertyName("rule")] string? Rule)
{
    /// <summary>The verdict names of `--verdict`, as the JSON spells them.</summary>
    public static readonly IReadOnlyList<string> Verdicts = ["spliced", "diverted", "translated", "denied", "dropped"];

    public bool Matches(string? service, string? verdict) =>
        (service is null || string.Equals(Service, service, StringComparison.Ordinal))
        && (verdict is null || string.Equals(Verdict, verdict, StringComparison.Ordinal));
}

using System.Net.Http;
using Polly;
using Polly.CircuitBreaker;

namespace Mesh.Proxy.Resilience;

/// <summary>What counts as a failed try, for the circuit breakers.</summary>
internal static class UpstreamOutcome
{
    /// <summary>
    /// A 5xx answer, a connection or protocol error, or an expired per-try timeout. A cancellation is not a failure of
    /// the upstream: it comes from the client going away or the overall request timeout; nor is a refusal by another
    /// breaker of the route, which never reached the upstream.
    /// </summary>
    public static bool IsFailure(Outcome<HttpResponseMessage> outcome) => outcome switch
    {
        { Exception: OperationCanceledException or BrokenCircuitException } => false,
        { Exception: not null } => true,
        { Result: { } response } => (int)response.StatusCode >= 500,
        _ => false,
    };

    public static bool IsConnectFailure(Exception exception) =>
        exception is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError };
}

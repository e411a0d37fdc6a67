using Mesh.Config;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace Mesh.Proxy.Resilience;

/// <summary>
/// Builds the Polly pipeline of one route, once per config version. Outermost first:
/// overall timeout (<c>timeouts.request</c>) → retry (with budget) → circuit breaker → per-try timeout
/// (<c>timeouts.backendRequest</c>), the order of Microsoft.Extensions.Http.Resilience's standard handler: every try
/// counts for the breaker, an open circuit ends the retries, and the overall timeout bounds tries and backoffs together.
/// </summary>
internal sealed partial class RoutePipelineFactory(TimeProvider time, ILogger<RoutePipelineFactory> logger)
{
    public (ResiliencePipeline<HttpResponseMessage> Pipeline, RetryBudget? Budget) Build(string routeId, HttpRouteRule route)
    {
        var retry = route.Retry is { Attempts: > 0 } r ? r : null;
        if (route.Timeouts is { Request: null, BackendRequest: null } && retry is null && route.CircuitBreaker is null)
        {
            return (ResiliencePipeline<HttpResponseMessage>.Empty, null);
        }

        var builder = new ResiliencePipelineBuilder<HttpResponseMessage> { Name = routeId, TimeProvider = time };
        if (route.Timeouts.Request is { } total)
        {
            builder.AddTimeout(new TimeoutStrategyOptions { Name = "request", Timeout = total });
        }

        RetryBudget? budget = null;
        if (retry is not null)
        {
            budget = new RetryBudget(retry.BudgetPercent);
            var codes = retry.Codes.ToHashSet();
            builder.AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                Name = "retry",
                MaxRetryAttempts = retry.Attempts,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = retry.Backoff,
                MaxDelay = retry.MaxBackoff,
                ShouldHandle = args => ValueTask.FromResult(ShouldRetry(args, routeId, retry, codes, budget)),
                OnRetry = args =>
                {
                    Log.RetryScheduled(logger, routeId, args.AttemptNumber + 1, Describe(args.Outcome), args.RetryDelay);
                    return default;
                },
            });
        }

        // Either condition opens the breaker, as the config documents: two breakers in a row, each refusing tries while
        // it is open (a refusal by one is no failure for the other).
        if (route.CircuitBreaker is { } breaker)
        {
            if (breaker.ConsecutiveFailures > 0)
            {
                builder.AddStrategy(
                    context => new ConsecutiveFailuresCircuitBreaker(breaker.ConsecutiveFailures, breaker.BreakDuration, context.TimeProvider,
                        duration => Log.CircuitOpened(logger, routeId, duration)),
                    new ConsecutiveFailuresOptions());
            }

            if (breaker.FailureRatio is { } ratio)
            {
                builder.AddCircuitBreaker(new CircuitBreakerStrategyOptions<HttpResponseMessage>
                {
                    Name = "circuit-breaker-ratio",
                    FailureRatio = ratio,
                    MinimumThroughput = breaker.MinimumThroughput,
                    SamplingDuration = breaker.SamplingDuration,
                    BreakDuration = breaker.BreakDuration,
                    ShouldHandle = args => ValueTask.FromResult(UpstreamOutcome.IsFailure(args.Outcome)),
                    OnOpened = args =>
                    {
                        Log.CircuitOpened(logger, routeId, args.BreakDuration);
                        return default;
                    },
                });
            }
        }

        if (route.Timeouts.BackendRequest is { } perTry)
        {
            builder.AddTimeout(new TimeoutStrategyOptions { Name = "backendRequest", Timeout = perTry });
        }

        return (builder.Build(), budget);
    }

    private bool ShouldRetry(
        RetryPredicateArguments<HttpResponseMessage> args,
        string routeId,
        RetryPolicy retry,
        HashSet<int> codes,
        RetryBudget budget)
    {
        // Polly asks after the last try too; say no before touching the budget.
        if (args.AttemptNumber >= retry.Attempts
            || !args.Context.Properties.TryGetValue(ForwardingAttempts.Key, out var attempts)
            || !attempts.CanRetry)
        {
            return false;
        }

        var retryable = args.Outcome switch
        {
            { Exception: TimeoutRejectedException } => codes.Contains(504),
            // A connection that could not be made is always retried, as the config documents.
            { Exception: { } e } => UpstreamOutcome.IsConnectFailure(e),
            { Result: { } response } => codes.Contains((int)response.StatusCode),
            _ => false,
        };

        if (retryable && !budget.TryWithdraw())
        {
            Log.RetryBudgetExhausted(logger, routeId);
            return false;
        }

        if (retryable)
        {
            attempts.RetriesGranted++;
        }

        return retryable;
    }

    private static string Describe(Outcome<HttpResponseMessage> outcome) =>
        outcome.Exception?.GetType().Name ?? ((int?)outcome.Result?.StatusCode)?.ToString() ?? "none";

    private sealed class ConsecutiveFailuresOptions : ResilienceStrategyOptions
    {
        public ConsecutiveFailuresOptions() => Name = "circuit-breaker";
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.RetryScheduled, Level = LogLevel.Debug,
            Message = "Route {RouteId}: try {Attempt} failed ({Outcome}); retrying in {Delay}")]
        public static partial void RetryScheduled(ILogger logger, string routeId, int attempt, string outcome, TimeSpan delay);

        [LoggerMessage(EventId = EventIds.RetryBudgetExhausted, Level = LogLevel.Warning,
            Message = "Route {RouteId}: retry budget spent; not retrying")]
        public static partial void RetryBudgetExhausted(ILogger logger, string routeId);

        [LoggerMessage(EventId = EventIds.CircuitOpened, Level = LogLevel.Warning,
            Message = "Route {RouteId}: circuit opened for {BreakDuration}")]
        public static partial void CircuitOpened(ILogger logger, string routeId, TimeSpan breakDuration);
    }
}

using System.Text.RegularExpressions;

namespace Mesh.Proxy.Configuration;

/// <summary>
/// Checks a whole configuration before it replaces the current one, so that nothing invalid reaches YARP or Polly at
/// run time. Every error names the value's path, e.g. <c>services[reviews].routes[canary].retry.attempts</c>.
/// </summary>
public static class ProxyConfigValidator
{
    private static ReadOnlySpan<int> RedirectCodes => [301, 302, 303, 307, 308];
    // A retried request's body is held in memory until the request ends; past 16 MiB, a body is an upload to stream.
    private const int MaxReplayBodyBytes = 16 * 1024 * 1024;
    private static readonly TimeSpan MinTimeout = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan MaxTimeout = TimeSpan.FromDays(1);
    private static readonly TimeSpan MinBreakerWindow = TimeSpan.FromMilliseconds(500);

    /// <summary>Returns every problem found; an empty list means the configuration is valid.</summary>
    public static IReadOnlyList<string> Validate(IReadOnlyList<ProxyService> services)
    {
        ArgumentNullException.ThrowIfNull(services);
        var errors = new List<string>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var addresses = new HashSet<System.Net.IPEndPoint>();
        foreach (var service in services)
        {
            if (service is null)
            {
                errors.Add("services: contains null");
                continue;
            }

            var path = $"services[{service.Name}]";
            if (!IsName(service.Name))
            {
                errors.Add($"{path}.name: must be 1-253 letters, digits, '.', '-' or '_', starting and ending with a letter or digit");
            }
            else if (!names.Add(service.Name))
            {
                errors.Add($"{path}.name: duplicate service name");
            }

            if (service.Address is null || service.Address.Port == 0)
            {
                errors.Add($"{path}.address: an address with a port is required");
            }
            else if (!addresses.Add(Normalize(service.Address)))
            {
                errors.Add($"{path}.address: {service.Address} is already the address of another service");
            }
        }

        foreach (var service in services)
        {
            if (service is not null)
            {
                ValidateService(service, names, errors);
            }
        }

        return errors;
    }

    /// <summary>Throws <see cref="ProxyConfigException"/> if <see cref="Validate"/> finds anything.</summary>
    public static void ThrowIfInvalid(IReadOnlyList<ProxyService> services)
    {
        var errors = Validate(services);
        if (errors.Count > 0)
        {
            throw new ProxyConfigException(errors);
        }
    }

    private static void ValidateService(ProxyService service, HashSet<string> services, List<string> errors)
    {
        var path = $"services[{service.Name}]";
        var endpoints = new HashSet<System.Net.IPEndPoint>();
        foreach (var endpoint in service.Endpoints ?? [])
        {
            if (endpoint is null || endpoint.Port == 0)
            {
                errors.Add($"{path}.endpoints: every endpoint needs an address and a port");
            }
            else if (!endpoints.Add(Normalize(endpoint)))
            {
                errors.Add($"{path}.endpoints: {endpoint} is listed twice");
            }
        }

        if (!Enum.IsDefined(service.Protocol))
        {
            errors.Add($"{path}.protocol: must be http1 or h2c");
        }

        if (!Enum.IsDefined(service.Default))
        {
            errors.Add($"{path}.default: must be allow or deny");
        }

        if (service.SourceCidrs is null)
        {
            errors.Add($"{path}.sourceCidrs: must not be null");
        }

        ValidateAuthorization(service.Authorization, $"{path}.authorization", services, errors);

        var routeNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var route in service.Routes ?? [])
        {
            if (route is null)
            {
                errors.Add($"{path}.routes: contains null");
                continue;
            }

            var routePath = $"{path}.routes[{route.Name}]";
            if (!IsName(route.Name))
            {
                errors.Add($"{routePath}.name: must be 1-253 letters, digits, '.', '-' or '_', starting and ending with a letter or digit");
            }
            else if (!routeNames.Add(route.Name))
            {
                errors.Add($"{routePath}.name: duplicate route name in the service");
            }

            ValidateRoute(route, routePath, services, errors);
        }
    }

    private static void ValidateRoute(ProxyRoute route, string path, HashSet<string> services, List<string> errors)
    {
        var matches = route.Matches ?? [];
        for (var i = 0; i < matches.Count; i++)
        {
            ValidateMatch(matches[i], $"{path}.matches[{i}]", errors);
        }

        if (!Enum.IsDefined(route.Action))
        {
            errors.Add($"{path}.action: must be allow or deny");
        }

        if (route.DenyReason is { } reason && !IsHeaderValue(reason))
        {
            errors.Add($"{path}.denyReason: must be printable ASCII (it is sent as a header)");
        }

        ValidateHeaderModifier(route.RequestHeaders, $"{path}.requestHeaders", errors);
        ValidateHeaderModifier(route.ResponseHeaders, $"{path}.responseHeaders", errors);

        var prefixOnly = matches.Count > 0 && matches.All(m => m?.Path?.Type == PathMatchType.PathPrefix);
        if (route.Rewrite is { } rewrite)
        {
            if (rewrite.Hostname is { } host && !IsHostname(host))
            {
                errors.Add($"{path}.rewrite.hostname: '{host}' is not a valid host name");
            }

            ValidatePathModifier(rewrite.Path, $"{path}.rewrite.path", prefixOnly, errors);
        }

        if (route.Redirect is { } redirect)
        {
            var redirectPath = $"{path}.redirect";
            if (route.Rewrite is not null)
            {
                errors.Add($"{redirectPath}: a route cannot both redirect and rewrite");
            }

            if (route.Backends is { Count: > 0 })
            {
                errors.Add($"{redirectPath}: a redirecting route has no backends");
            }

            if (redirect.Scheme is { } scheme && scheme is not ("http" or "https"))
            {
                errors.Add($"{redirectPath}.scheme: must be http or https");
            }

            if (redirect.Hostname is { } host && !IsHostname(host))
            {
                errors.Add($"{redirectPath}.hostname: '{host}' is not a valid host name");
            }

            if (redirect.Port is { } port && port is < 1 or > 65535)
            {
                errors.Add($"{redirectPath}.port: must be 1-65535");
            }

            if (!RedirectCodes.Contains(redirect.StatusCode))
            {
                errors.Add($"{redirectPath}.statusCode: must be one of 301, 302, 303, 307, 308");
            }

            ValidatePathModifier(redirect.Path, $"{redirectPath}.path", prefixOnly, errors);
        }

        var mirrors = route.Mirrors ?? [];
        for (var i = 0; i < mirrors.Count; i++)
        {
            var mirror = mirrors[i];
            if (mirror is null || !services.Contains(mirror.Service ?? ""))
            {
                errors.Add($"{path}.mirrors[{i}].service: no service named '{mirror?.Service}'");
                continue;
            }

            ValidatePercent(mirror.Percent, $"{path}.mirrors[{i}].percent", errors);
        }

        var backends = route.Backends ?? [];
        for (var i = 0; i < backends.Count; i++)
        {
            var backend = backends[i];
            if (backend is null || !services.Contains(backend.Service ?? ""))
            {
                errors.Add($"{path}.backends[{i}].service: no service named '{backend?.Service}'");
            }
            else if (backend.Weight < 0)
            {
                errors.Add($"{path}.backends[{i}].weight: must not be negative");
            }
        }

        if (backends.Count > 0 && backends.All(b => b is not null && b.Weight == 0))
        {
            errors.Add($"{path}.backends: at least one backend needs a weight above 0");
        }

        if (route.Timeouts is { } timeouts)
        {
            ValidateTimeout(timeouts.Request, $"{path}.timeouts.request", errors);
            ValidateTimeout(timeouts.BackendRequest, $"{path}.timeouts.backendRequest", errors);
            if (timeouts.Request is { } total && timeouts.BackendRequest is { } perTry && perTry > total)
            {
                errors.Add($"{path}.timeouts.backendRequest: must not exceed timeouts.request");
            }
        }

        if (route.Retry is { } retry)
        {
            ValidateRetry(retry, $"{path}.retry", errors);
        }

        if (route.CircuitBreaker is { } breaker)
        {
            ValidateCircuitBreaker(breaker, $"{path}.circuitBreaker", errors);
        }

        if (route.RateLimit is { } limit)
        {
            if (limit.Requests < 1)
            {
                errors.Add($"{path}.rateLimit.requests: must be at least 1");
            }

            if (limit.Window < TimeSpan.FromMilliseconds(1) || limit.Window > MaxTimeout)
            {
                errors.Add($"{path}.rateLimit.window: must be between 1 ms and 1 day");
            }
        }

        if (route.Fault is { } fault)
        {
            if (fault.Delay is { } delay)
            {
                if (delay.Duration < TimeSpan.Zero || delay.Duration > TimeSpan.FromHours(1))
                {
                    errors.Add($"{path}.fault.delay.duration: must be between 0 and 1 hour");
                }

                ValidatePercent(delay.Percent, $"{path}.fault.delay.percent", errors);
            }

            if (fault.Abort is { } abort)
            {
                if (abort.StatusCode is < 200 or > 599)
                {
                    errors.Add($"{path}.fault.abort.statusCode: must be 200-599");
                }

                ValidatePercent(abort.Percent, $"{path}.fault.abort.percent", errors);
            }
        }

        ValidateAuthorization(route.Authorization, $"{path}.authorization", services, errors);
    }

    private static void ValidateMatch(RouteMatch? match, string path, List<string> errors)
    {
        if (match is null)
        {
            errors.Add($"{path}: must not be null");
            return;
        }

        if (match.Path is { } pathMatch)
        {
            switch (pathMatch.Type)
            {
                case PathMatchType.Exact or PathMatchType.PathPrefix:
                    if (pathMatch.Value is null || !pathMatch.Value.StartsWith('/'))
                    {
                        errors.Add($"{path}.path.value: must start with '/'");
                    }

                    break;
                case PathMatchType.RegularExpression:
                    ValidateRegex(pathMatch.Value, $"{path}.path.value", errors);
                    break;
                default:
                    errors.Add($"{path}.path.type: must be Exact, PathPrefix or RegularExpression");
                    break;
            }
        }

        if (match.Method is { } method && !IsToken(method))
        {
            errors.Add($"{path}.method: '{method}' is not an HTTP method");
        }

        var headers = match.Headers ?? [];
        for (var i = 0; i < headers.Count; i++)
        {
            var header = headers[i];
            if (header is null || !IsToken(header.Name))
            {
                errors.Add($"{path}.headers[{i}].name: not a valid header name");
            }
            else
            {
                ValidateStringMatch(header.Type, header.Value, $"{path}.headers[{i}]", errors);
            }
        }

        var query = match.QueryParams ?? [];
        for (var i = 0; i < query.Count; i++)
        {
            var param = query[i];
            if (param is null || string.IsNullOrEmpty(param.Name))
            {
                errors.Add($"{path}.queryParams[{i}].name: must not be empty");
            }
            else
            {
                ValidateStringMatch(param.Type, param.Value, $"{path}.queryParams[{i}]", errors);
            }
        }
    }

    private static void ValidateStringMatch(StringMatchType type, string? value, string path, List<string> errors)
    {
        switch (type)
        {
            case StringMatchType.Exact:
                if (value is null)
                {
                    errors.Add($"{path}.value: must not be null");
                }

                break;
            case StringMatchType.RegularExpression:
                ValidateRegex(value, $"{path}.value", errors);
                break;
            default:
                errors.Add($"{path}.type: must be Exact or RegularExpression");
                break;
        }
    }

    private static void ValidateRegex(string? pattern, string path, List<string> errors)
    {
        if (pattern is null)
        {
            errors.Add($"{path}: a regular expression is required");
            return;
        }

        try
        {
            _ = RouteRegex.Create(pattern);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            errors.Add($"{path}: '{pattern}' is not a supported regular expression ({e.Message})");
        }
    }

    private static void ValidateHeaderModifier(HeaderModifier? modifier, string path, List<string> errors)
    {
        if (modifier is null)
        {
            return;
        }

        foreach (var (list, name) in new[] { (modifier.Set, "set"), (modifier.Add, "add") })
        {
            foreach (var header in list ?? [])
            {
                if (header is null || !IsToken(header.Name))
                {
                    errors.Add($"{path}.{name}: '{header?.Name}' is not a valid header name");
                }
                else if (header.Value is null || !IsHeaderValue(header.Value))
                {
                    errors.Add($"{path}.{name}[{header.Name}]: the value must be printable ASCII");
                }
            }
        }

        foreach (var header in modifier.Remove ?? [])
        {
            if (!IsToken(header))
            {
                errors.Add($"{path}.remove: '{header}' is not a valid header name");
            }
        }
    }

    private static void ValidatePathModifier(PathModifier? modifier, string path, bool prefixOnly, List<string> errors)
    {
        if (modifier is null)
        {
            return;
        }

        if (modifier.Value is null || !modifier.Value.StartsWith('/'))
        {
            errors.Add($"{path}.value: must start with '/'");
        }

        if (modifier.Type == PathModifierType.ReplacePrefixMatch && !prefixOnly)
        {
            errors.Add($"{path}: ReplacePrefixMatch needs every match of the route to be a PathPrefix match");
        }
        else if (!Enum.IsDefined(modifier.Type))
        {
            errors.Add($"{path}.type: must be ReplaceFullPath or ReplacePrefixMatch");
        }
    }

    private static void ValidateRetry(RetryPolicy retry, string path, List<string> errors)
    {
        if (retry.Attempts is < 0 or > 10)
        {
            errors.Add($"{path}.attempts: must be 0-10");
        }

        foreach (var code in retry.Codes ?? [])
        {
            if (code is < 400 or > 599)
            {
                errors.Add($"{path}.codes: {code} is not a 4xx or 5xx status");
            }
        }

        if (retry.Backoff < TimeSpan.Zero || retry.MaxBackoff < retry.Backoff || retry.MaxBackoff > TimeSpan.FromMinutes(1))
        {
            errors.Add($"{path}.backoff: need 0 ≤ backoff ≤ maxBackoff ≤ 1 min");
        }

        if (retry.MaxBodyBytes is < 0 or > MaxReplayBodyBytes)
        {
            errors.Add($"{path}.maxBodyBytes: must be 0-{MaxReplayBodyBytes}");
        }

        var budget = retry.Budget;
        if (budget is null)
        {
            errors.Add($"{path}.budget: must not be null");
        }
        else if (budget.Ratio < 0 || budget.MinRetriesPerSecond < 0
            || budget.Window < TimeSpan.FromSeconds(1) || budget.Window > TimeSpan.FromMinutes(1))
        {
            errors.Add($"{path}.budget: need ratio ≥ 0, minRetriesPerSecond ≥ 0 and a window of 1 s to 1 min");
        }
    }

    private static void ValidateCircuitBreaker(CircuitBreakerPolicy breaker, string path, List<string> errors)
    {
        if (breaker.ConsecutiveFailures.HasValue == breaker.FailureRatio.HasValue)
        {
            errors.Add($"{path}: set exactly one of consecutiveFailures and failureRatio");
        }

        if (breaker.ConsecutiveFailures is < 1)
        {
            errors.Add($"{path}.consecutiveFailures: must be at least 1");
        }

        if (breaker.FailureRatio is { } ratio)
        {
            if (ratio is <= 0 or > 1 || double.IsNaN(ratio))
            {
                errors.Add($"{path}.failureRatio: must be above 0 and at most 1");
            }

            if (breaker.MinimumThroughput < 2)
            {
                errors.Add($"{path}.minimumThroughput: must be at least 2");
            }

            if (breaker.SamplingDuration < MinBreakerWindow || breaker.SamplingDuration > MaxTimeout)
            {
                errors.Add($"{path}.samplingDuration: must be between 0.5 s and 1 day");
            }
        }

        if (breaker.BreakDuration < MinBreakerWindow || breaker.BreakDuration > MaxTimeout)
        {
            errors.Add($"{path}.breakDuration: must be between 0.5 s and 1 day");
        }
    }

    private static void ValidateAuthorization(ProxyAuthorization? authorization, string path, HashSet<string> services, List<string> errors)
    {
        foreach (var source in authorization?.AllowedSources ?? [])
        {
            if (!services.Contains(source ?? ""))
            {
                errors.Add($"{path}.allowedSources: no service named '{source}'");
            }
        }
    }

    private static void ValidateTimeout(TimeSpan? timeout, string path, List<string> errors)
    {
        if (timeout is { } value && (value < MinTimeout || value > MaxTimeout))
        {
            errors.Add($"{path}: must be between 10 ms and 1 day");
        }
    }

    private static void ValidatePercent(double percent, string path, List<string> errors)
    {
        if (percent is < 0 or > 100 || double.IsNaN(percent))
        {
            errors.Add($"{path}: must be 0-100");
        }
    }

    private static System.Net.IPEndPoint Normalize(System.Net.IPEndPoint endpoint) =>
        endpoint.Address.IsIPv4MappedToIPv6 ? new(endpoint.Address.MapToIPv4(), endpoint.Port) : endpoint;

    private static bool IsName(string? name) =>
        name is { Length: > 0 and <= 253 }
        && char.IsAsciiLetterOrDigit(name[0])
        && char.IsAsciiLetterOrDigit(name[^1])
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_');

    // RFC 9110 token: the characters allowed in header names and methods.
    private static bool IsToken(string? value) =>
        value is { Length: > 0 } && value.All(c => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c));

    private static bool IsHeaderValue(string value) => value.All(c => c is >= ' ' and <= '~' or '\t');

    private static bool IsHostname(string value) =>
        value.Length is > 0 and <= 253 && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or ':' or '[' or ']');
}

/// <summary>How route regular expressions are compiled: whole-value, culture-invariant, and non-backtracking.</summary>
internal static class RouteRegex
{
    // Non-backtracking: matching time is linear in the input, so a hostile path or header cannot stall the proxy
    // (Envoy uses RE2 for the same reason). It refuses backreferences and lookarounds, as RE2 does.
    public static Regex Create(string pattern) =>
        new($"^(?:{pattern})$", RegexOptions.CultureInvariant | RegexOptions.NonBacktracking | RegexOptions.ExplicitCapture);
}

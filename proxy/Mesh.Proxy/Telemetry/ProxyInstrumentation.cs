using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Mesh.Proxy.Routing;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Forwarder;

namespace Mesh.Proxy.Telemetry;

/// <summary>
/// The proxy's spans and metrics: the <see cref="ActivitySource"/> and <see cref="Meter"/> named
/// <see cref="Name"/>, owned by the proxy's container (registered only when telemetry is on).
/// </summary>
/// <remarks>
/// <para>
/// Where the spans come from. The proxy makes both kinds itself rather than enriching the ASP.NET Core and HttpClient
/// instrumentations', because with YARP those do not give a correct tree:
/// </para>
/// <list type="bullet">
/// <item>Server span: one per request, opened by <see cref="RequestTelemetryMiddleware"/> with the context of the
/// client's <c>traceparent</c> (read with the runtime's <see cref="DistributedContextPropagator"/>), or as a new root.
/// ASP.NET Core's own hosting activity would need the instrumentation package, whose per-request filter and route tag
/// (YARP's <c>/{**catch-all}</c>) apply to every host in the process.</item>
/// <item>Client spans: one per try, opened by the resilience handler around each send to an upstream endpoint, so a
/// retried request shows one span per try, each a child of the server span, each retry counted. HttpClient's own
/// activities cannot carry that: the forwarder's <see cref="SocketsHttpHandler"/> runs a DiagnosticsHandler that, on
/// each send and whenever an activity is current, starts a hidden <c>System.Net.Http.HttpRequestOut</c> activity (even
/// with no listener) and injects <em>its</em> id, so the upstream's parent would be a span nobody exports. So when
/// telemetry is on, the forwarder's handler gets no header propagator (which takes the DiagnosticsHandler out of its
/// chain), and <see cref="StartAttempt"/> injects the try's own span instead: YARP's <see cref="ReverseProxyPropagator"/>
/// drops the client's trace headers that YARP copied, then writes <c>traceparent</c> (and <c>tracestate</c>) of the
/// span. Each retry is a copy of the first try's message, so its headers are replaced the same way.</item>
/// </list>
/// <para>
/// A try's span ends at the upstream's response headers, where the resilience handler decides on a retry; the body is
/// streamed to the client afterwards, within the server span. Whether a request is traced is decided once, at its
/// start (<see cref="ProxyTraceSampler"/>): a request that is not, and every request when nothing listens to the
/// source (metrics only), has no span, takes no tracing path further on (no client span, no header rewriting by the
/// resilience handler) and costs only its metrics.
/// </para>
/// </remarks>
internal sealed class ProxyInstrumentation : IDisposable
{
    /// <summary>The name of the activity source and of the meter.</summary>
    public const string Name = "Mesh.Proxy";

    // OpenTelemetry's advised buckets for http.server.request.duration, in seconds.
    private static readonly double[] DurationBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

    private static readonly string[] StatusClasses = ["1xx", "2xx", "3xx", "4xx", "5xx"];

    /// <summary>The names <see cref="MethodName"/> gives: the semantic conventions' known methods, then "_OTHER".</summary>
    public static readonly string[] MethodNames = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT", "_OTHER"];

    // Span attributes are objects: status codes and resend counts are boxed once here rather than on every request
    // (a lost race only boxes a value twice).
    private readonly object?[] _boxed = new object?[600];

    private readonly ActivitySource _source;
    private readonly ProxyTraceSampler _sampler;
    private readonly ReverseProxyPropagator _propagator = new(DistributedContextPropagator.Current);
    private readonly Counter<long> _errors;
    private readonly Histogram<double> _duration;

    public ProxyInstrumentation(IMeterFactory meters, ProxyTraceSampler sampler)
    {
        var version = typeof(ProxyInstrumentation).Assembly.GetName().Version?.ToString();
        _source = new ActivitySource(Name, version);
        _sampler = sampler;
        var meter = Meter = meters.Create(new MeterOptions(Name) { Version = version });
        _errors = meter.CreateCounter<long>("mesh.proxy.errors", "{request}",
            "Requests answered with a 5xx, or refused by a policy (any verdict but allowed).");
        // No request counter beside it: the histogram's count is the number of requests, by the same attributes, and a
        // second recording per request would cost as much as this one (see loadtest/README.md, telemetry-bench.sh).
        _duration = meter.CreateHistogram("mesh.proxy.request.duration", "s",
            "Time from the request's arrival at the proxy to the end of its answer; its count is the requests answered, "
            + "by service, route, verdict and status class.", tags: null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
    }

    /// <summary>The proxy's meter, for instruments of other classes.</summary>
    public Meter Meter { get; }

    /// <summary>Opens the server span of a request, continuing the client's trace if it sent one, if it is sampled.</summary>
    /// <param name="context">The request.</param>
    /// <param name="start">Its arrival, a <see cref="TimeProvider"/> timestamp.</param>
    public RequestTelemetry StartRequest(HttpContext context, long start)
    {
        if (!_source.HasListeners())
        {
            return new RequestTelemetry(context, start, activity: null, method: null);
        }

        var request = context.Request;
        DistributedContextPropagator.Current.ExtractTraceIdAndState(request.Headers, GetHeader, out var traceParent, out var traceState);
        ActivityContext.TryParse(traceParent, traceState, isRemote: true, out var parent);
        if (!_sampler.ShouldSample(parent, out var unsampledTraceparent))
        {
            return new RequestTelemetry(context, start, activity: null, method: null, unsampledTraceparent);
        }

        var method = MethodName(request.Method);

        // A default parent context means "the current activity", which here is ASP.NET Core's hosting activity (it
        // exists whenever logging is on, and is never exported). Without a traceparent the span is a root instead.
        var current = Activity.Current;
        Activity.Current = null;
        var activity = _source.StartActivity(method, ActivityKind.Server, parent);
        if (activity is null)
        {
            Activity.Current = current;
        }
        else
        {
            // Baggage rides on the span so that the upstream receives it again (the propagator rewrites all trace headers).
            foreach (var (key, value) in DistributedContextPropagator.Current.ExtractBaggage(request.Headers, GetHeader) ?? [])
            {
                activity.AddBaggage(key, value);
            }
        }

        // AddTag, not SetTag, for what each span gets once: SetTag first searches the tags already there.
        if (activity is { IsAllDataRequested: true })
        {
            activity.AddTag(TelemetryTags.RequestMethod, method);
            activity.AddTag(TelemetryTags.UrlScheme, request.Scheme);
            activity.AddTag(TelemetryTags.ProtocolVersion, ProtocolVersion(request.Protocol));
            if (request.Path.Value is { } path)
            {
                activity.AddTag(TelemetryTags.UrlPath, path);
            }

            if (context.Connection.RemoteIpAddress is { } client)
            {
                activity.AddTag(TelemetryTags.ClientAddress, client.ToString());
            }
        }

        return new RequestTelemetry(context, start, activity, method);
    }

    /// <summary>Closes a request's server span.</summary>
    public void EndSpan(Activity activity, int statusCode, Exception? failure)
    {
        if (activity.IsAllDataRequested)
        {
            activity.AddTag(TelemetryTags.ResponseStatusCode, Box(statusCode));
            if (failure is not null)
            {
                activity.SetStatus(ActivityStatusCode.Error, failure.Message);
                activity.AddTag(TelemetryTags.ErrorType, failure.GetType().FullName);
            }
            else if (statusCode >= 500)
            {
                // Semantic conventions: a server span is an error for 5xx only.
                activity.SetStatus(ActivityStatusCode.Error);
                activity.AddTag(TelemetryTags.ErrorType, statusCode.ToString(CultureInfo.InvariantCulture));
            }
        }

        activity.Dispose();
    }

    /// <summary>Records a request's metrics, once its answer is complete.</summary>
    public void RecordRequest(RequestTelemetry telemetry, int statusCode, TimeSpan elapsed)
    {
        if (!_duration.Enabled)
        {
            return;
        }

        var tags = new TagList();
        if (telemetry.Service is { } service)
        {
            tags.Add(TelemetryTags.Service, service);
        }

        if (telemetry.Route is { } route)
        {
            tags.Add(TelemetryTags.Route, route);
        }

        if (telemetry.Verdict is { } verdict)
        {
            tags.Add(TelemetryTags.Verdict, verdict.Name());
        }

        tags.Add(TelemetryTags.StatusClass, StatusClass(statusCode));
        if (statusCode >= 500 || telemetry.Verdict is { } refused && refused != ProxyVerdict.Allowed)
        {
            _errors.Add(1, tags);
        }

        _duration.Record(elapsed.TotalSeconds, tags);
    }

    /// <summary>
    /// Opens the client span of one try (a child of the request's server span, which is current here) and writes its
    /// context into the message's trace headers.
    /// </summary>
    /// <param name="message">The try's message: YARP's for the first, a copy for each retry.</param>
    /// <param name="feature">The request's routing decision.</param>
    /// <param name="attempt">1 for the first try, 2 for the first retry, ...</param>
    public Activity? StartAttempt(HttpRequestMessage message, MeshRequestFeature feature, int attempt)
    {
        var method = MethodName(message.Method.Method);
        var activity = _source.StartActivity(method, ActivityKind.Client);
        if (activity is { IsAllDataRequested: true })
        {
            var uri = message.RequestUri!;
            activity.AddTag(TelemetryTags.RequestMethod, method);
            activity.AddTag(TelemetryTags.ServerAddress, uri.DnsSafeHost);
            activity.AddTag(TelemetryTags.ServerPort, uri.Port);
            // The absolute URL as YARP (or a retry on another endpoint) wrote it: AbsoluteUri would build it again.
            activity.AddTag(TelemetryTags.UrlFull, uri.IsAbsoluteUri ? uri.OriginalString : uri.ToString());
            // The backend the try goes to (a split route's may not be the requested service). No route and no try
            // number: the route is the server span's, and a retry says which it is in the semantic conventions'
            // resend count. Each attribute is work for every exported span (span-cost.sh: 0.4-0.9 us for three).
            activity.AddTag(TelemetryTags.Service, feature.Backend?.Name ?? feature.Route.ServiceName);
            if (attempt > 1)
            {
                activity.AddTag(TelemetryTags.ResendCount, Box(attempt - 1));
            }
        }

        // Without any activity the client's own trace headers, as YARP copied them, go on unchanged.
        if ((activity ?? Activity.Current) is { } propagated)
        {
            _propagator.Inject(propagated, message, SetHeader);
        }

        return activity;
    }

    /// <summary>Closes a try's span with the upstream's status, or with the error that ended the try.</summary>
    public void EndAttempt(Activity? activity, HttpResponseMessage? response, Exception? failure)
    {
        if (activity is null)
        {
            return;
        }

        if (activity.IsAllDataRequested)
        {
            if (response is not null)
            {
                var status = (int)response.StatusCode;
                activity.AddTag(TelemetryTags.ResponseStatusCode, Box(status));
                activity.AddTag(TelemetryTags.ProtocolVersion, ProtocolVersion(response.Version));
                if (status >= 400)
                {
                    // Semantic conventions: a client span is an error for 4xx and 5xx.
                    activity.SetStatus(ActivityStatusCode.Error);
                    activity.AddTag(TelemetryTags.ErrorType, status.ToString(CultureInfo.InvariantCulture));
                }
            }
            else if (failure is not null)
            {
                activity.SetStatus(ActivityStatusCode.Error, failure.Message);
                activity.AddTag(TelemetryTags.ErrorType, failure.GetType().FullName);
            }
        }

        activity.Dispose();
    }

    public void Dispose() => _source.Dispose();

    private object Box(int value) => (uint)value < (uint)_boxed.Length ? _boxed[value] ??= value : value;

    private static string StatusClass(int statusCode) =>
        statusCode is >= 100 and < 600 ? StatusClasses[(statusCode / 100) - 1] : "other";

    // Semantic conventions: known methods as they are, anything else as _OTHER, which keeps span names and
    // attributes bounded whatever clients send.
    private static string MethodName(string method) => Array.IndexOf(MethodNames, method) >= 0 ? method : "_OTHER";

    private static string ProtocolVersion(string protocol) => protocol switch
    {
        "HTTP/1.1" => "1.1",
        "HTTP/2" => "2",
        "HTTP/1.0" => "1.0",
        "HTTP/3" => "3",
        _ => protocol,
    };

    private static string ProtocolVersion(Version version) => (version.Major, version.Minor) switch
    {
        (1, 1) => "1.1",
        (2, _) => "2",
        (1, 0) => "1.0",
        (3, _) => "3",
        _ => version.Major >= 2 ? version.Major.ToString(CultureInfo.InvariantCulture) : version.ToString(2),
    };

    private static void GetHeader(object? carrier, string name, out string? value, out IEnumerable<string>? values)
    {
        values = null;
        value = carrier is IHeaderDictionary headers && headers.TryGetValue(name, out var found) ? found.ToString() : null;
    }

    private static void SetHeader(object? carrier, string name, string value) =>
        ((HttpRequestMessage)carrier!).Headers.TryAddWithoutValidation(name, value);
}

namespace Mesh.Proxy;

/// <summary>Event ids of the proxy's log messages, one range per concern.</summary>
internal static class EventIds
{
    // Management 1-9
    public const int ConfigApplied = 1;
    public const int ConfigRejected = 2;
    public const int YarpConfigFailed = 3;

    // Routing and access 10-19
    public const int NoOriginalDestination = 10;
    public const int UnknownDestination = 11;
    public const int RouteDenied = 12;
    public const int NoRouteMatched = 13;
    public const int SourceNotAllowed = 14;
    public const int BackendNotReady = 15;
    public const int RouteMatched = 16;

    // Policy 20-39
    public const int RateLimited = 20;
    public const int FaultDelayInjected = 30;
    public const int FaultAbortInjected = 31;
    public const int Redirected = 32;
    public const int MirrorFailed = 33;
    public const int MirrorDropped = 34;
    public const int BodyNotReplayable = 35;

    // Resilience 40-49
    public const int RetryScheduled = 40;
    public const int RetryBudgetExhausted = 41;
    public const int CircuitOpened = 42;
    public const int CircuitRejected = 43;
    public const int UpstreamTimedOut = 44;

    // Hosting 50-59
    public const int ListenerBound = 50;
    public const int ConnectionSniffFailed = 51;
    public const int ListenerLimits = 52;
    public const int RequestBodyTooLarge = 53;
    public const int RequestBodyCut = 54;
    public const int Draining = 55;
    public const int WorkloadListenerAttached = 56;
    public const int WorkloadListenerFailed = 57;

    // Telemetry 60-69
    public const int TelemetryExporting = 60;
    public const int TelemetryOff = 61;
}

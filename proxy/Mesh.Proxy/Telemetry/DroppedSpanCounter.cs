using System.Diagnostics.Metrics;

namespace Mesh.Proxy.Telemetry;

/// <summary>
/// <c>mesh.proxy.spans.dropped</c>: the proxy's finished spans that the OpenTelemetry SDK's batch processor lost, because
/// its queue was full or it had shut down. The processor keeps its own count internal; it reports each loss on the
/// SDK's self-observability counter <c>otel.sdk.processor.span.processed</c> with an <c>error.type</c>, which this
/// listens to. A collector that refuses a batch the exporter sent is not counted here (the SDK counts it nowhere).
/// </summary>
/// <remarks>The SDK's counter is process-wide, as the proxy's process has one span processor.</remarks>
internal sealed class DroppedSpanCounter : IDisposable
{
    private const string SdkMeter = "otel.sdk.experimental";
    private const string SdkProcessedSpans = "otel.sdk.processor.span.processed";
    private const string ErrorType = "error.type";

    private readonly MeterListener _listener = new();
    private long _dropped;

    public DroppedSpanCounter(Meter meter)
    {
        meter.CreateObservableCounter("mesh.proxy.spans.dropped", () => Volatile.Read(ref _dropped), "{span}",
            "Spans the proxy recorded that were not exported: the exporter's queue was full, or it had stopped.");
        _listener.InstrumentPublished = static (instrument, listener) =>
        {
            if (instrument is { Name: SdkProcessedSpans, Meter.Name: SdkMeter })
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>(OnProcessed);
        _listener.Start();
    }

    public void Dispose() => _listener.Dispose();

    // Called once per exported batch (no error.type) and once per lost span.
    private void OnProcessed(Instrument instrument, long spans, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        foreach (var tag in tags)
        {
            if (tag.Key == ErrorType)
            {
                Interlocked.Add(ref _dropped, spans);
                return;
            }
        }
    }
}

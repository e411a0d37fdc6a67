using System.Diagnostics;

namespace Mesh.Proxy.Tests.Infrastructure;

/// <summary>Latencies of a well-behaved client, in milliseconds, with the percentiles the attack tests report.</summary>
internal sealed class LatencyRecord
{
    private readonly List<double> _milliseconds = [];

    public int Count => _milliseconds.Count;

    public int Failures { get; private set; }

    public double Median => Percentile(50);

    public double P99 => Percentile(99);

    public double Max => _milliseconds.Count == 0 ? double.NaN : _milliseconds.Max();

    /// <summary>
    /// Sends <paramref name="send"/> one request after another, <paramref name="pause"/> apart, until <paramref name="stop"/>
    /// fires or <paramref name="maxRequests"/> were sent, recording each one's latency; a failure or non-2xx answer counts
    /// as a failure.
    /// </summary>
    public static async Task<LatencyRecord> MeasureAsync(Func<Task<HttpResponseMessage>> send, CancellationToken stop, TimeSpan pause = default, int maxRequests = 100_000)
    {
        var record = new LatencyRecord();
        for (var i = 0; i < maxRequests && !stop.IsCancellationRequested; i++)
        {
            var started = Stopwatch.GetTimestamp();
            try
            {
                using var response = await send();
                await response.Content.ReadAsByteArrayAsync(CancellationToken.None);
                if (!response.IsSuccessStatusCode)
                {
                    record.Failures++;
                }
            }
            catch (HttpRequestException)
            {
                record.Failures++;
            }
            catch (TaskCanceledException)
            {
                record.Failures++;
            }

            record._milliseconds.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            if (pause > TimeSpan.Zero)
            {
                await Task.Delay(pause, CancellationToken.None);
            }
        }

        return record;
    }

    public double Percentile(double percent)
    {
        if (_milliseconds.Count == 0)
        {
            return double.NaN;
        }

        var sorted = _milliseconds.Order().ToArray();
        var rank = (int)Math.Ceiling(percent / 100 * sorted.Length) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Length - 1)];
    }

    public override string ToString() =>
        FormattableString.Invariant($"{Count} requests, {Failures} failed, median {Median:0.0} ms, p99 {P99:0.0} ms, max {Max:0.0} ms");
}

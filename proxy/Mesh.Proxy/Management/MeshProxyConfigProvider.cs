using Mesh.Config;
using Mesh.Proxy.Routing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Configuration;

namespace Mesh.Proxy.Management;

/// <summary>
/// The proxy's configuration source: holds the current config version and replaces it as a whole on
/// <see cref="Update"/>. YARP reads it as an <see cref="IProxyConfigProvider"/>; the request path reads the matching
/// snapshot of compiled routes.
/// </summary>
/// <remarks>
/// An update is compiled completely before anything is swapped; a refused update throws
/// <see cref="ProxyConfigException"/> and the last good config stays. Requests in flight keep the snapshot (and YARP
/// endpoint and cluster) they started with, so they complete under the policy they matched; the next request sees the
/// new version. YARP's config is swapped first and the snapshot second, so a request never picks a backend whose YARP
/// route does not exist yet.
/// </remarks>
public sealed partial class MeshProxyConfigProvider : IProxyConfigProvider, IDisposable
{
    private readonly ProxyConfigCompiler _compiler;
    private readonly ILogger<MeshProxyConfigProvider> _logger;
    private readonly Lock _updateGate = new();
    private ProxySnapshot _snapshot;
    private MeshYarpConfig _config;

    internal MeshProxyConfigProvider(ProxyConfigCompiler compiler, ILogger<MeshProxyConfigProvider> logger)
    {
        _compiler = compiler;
        _logger = logger;
        _snapshot = compiler.Compile([], new Dictionary<string, ulong>(), version: 0);
        var (routes, clusters) = compiler.BuildYarpConfig(_snapshot);
        _config = new MeshYarpConfig(routes, clusters, 0);
    }

    /// <summary>The version of the config in effect: 0 before the first update, then 1, 2, ...</summary>
    public long Version => Snapshot.Version;

    /// <summary>The services of the config in effect.</summary>
    public IReadOnlyList<ServiceConfig> Services => Snapshot.Services;

    internal ProxySnapshot Snapshot => Volatile.Read(ref _snapshot);

    /// <inheritdoc />
    public IProxyConfig GetConfig() => Volatile.Read(ref _config);

    /// <summary>Replaces the whole configuration atomically; throws <see cref="ProxyConfigException"/> and keeps the current one if it cannot be compiled.</summary>
    /// <param name="services">Every service of the config, each served at its address (the kernel diverts only those with HTTP policy).</param>
    /// <param name="sourceCgroupIds">
    /// The kernel's id of each <see cref="ServiceSource.Cgroup"/>, by path, as the agent resolved it; a cgroup missing here
    /// recognises nobody.
    /// </param>
    /// <returns>The new config version.</returns>
    public long Update(IReadOnlyList<ServiceConfig> services, IReadOnlyDictionary<string, ulong>? sourceCgroupIds = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        lock (_updateGate)
        {
            ProxySnapshot snapshot;
            try
            {
                snapshot = _compiler.Compile([.. services], sourceCgroupIds ?? new Dictionary<string, ulong>(), _snapshot.Version + 1);
            }
            catch (ProxyConfigException error)
            {
                Log.ConfigRejected(_logger, error.Errors.Count, string.Join("; ", error.Errors));
                throw;
            }

            var (routes, clusters) = _compiler.BuildYarpConfig(snapshot);
            var previous = _config;
            Volatile.Write(ref _config, new MeshYarpConfig(routes, clusters, snapshot.Version));
            previous.SignalChange();
            Volatile.Write(ref _snapshot, snapshot);
            Log.ConfigApplied(_logger, snapshot.Version, snapshot.ByAddress.Count, snapshot.ByAddress.Values.Sum(s => s.Routes.Length));
            return snapshot.Version;
        }
    }

    /// <inheritdoc />
    public void Dispose() => Volatile.Read(ref _config).Dispose();

    private sealed class MeshYarpConfig : IProxyConfig, IDisposable
    {
        private readonly CancellationTokenSource _changed = new();

        public MeshYarpConfig(IReadOnlyList<RouteConfig> routes, IReadOnlyList<ClusterConfig> clusters, long version)
        {
            Routes = routes;
            Clusters = clusters;
            RevisionId = version.ToString(System.Globalization.CultureInfo.InvariantCulture);
            ChangeToken = new CancellationChangeToken(_changed.Token);
        }

        public string RevisionId { get; }

        public IReadOnlyList<RouteConfig> Routes { get; }

        public IReadOnlyList<ClusterConfig> Clusters { get; }

        public IChangeToken ChangeToken { get; }

        public void SignalChange() => _changed.Cancel();

        public void Dispose() => _changed.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.ConfigApplied, Level = LogLevel.Information,
            Message = "Proxy config version {Version} applied: {Services} services, {Routes} routes")]
        public static partial void ConfigApplied(ILogger logger, long version, int services, int routes);

        [LoggerMessage(EventId = EventIds.ConfigRejected, Level = LogLevel.Error,
            Message = "Proxy config refused ({Count} errors), the previous one stays in effect: {Errors}")]
        public static partial void ConfigRejected(ILogger logger, int count, string errors);
    }
}

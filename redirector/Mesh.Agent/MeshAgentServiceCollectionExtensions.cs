using Mesh.Agent.Admin;
using Mesh.Agent.Discovery;
using Mesh.Agent.Flows;
using Mesh.Agent.L4;
using Mesh.Agent.L7;
using Mesh.Agent.Services;
using Mesh.Agent.Splice;
using Mesh.Agent.Telemetry;
using Mesh.Agent.Workloads;
using Mesh.Datapath.Interop;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.Agent;

/// <summary>Registers the node agent: its parts as singletons, and the hosted ones in the order they must start.</summary>
public static class MeshAgentServiceCollectionExtensions
{
    /// <param name="services">The host's services.</param>
    /// <param name="configFile">The YAML config to follow, or null for the built-in one.</param>
    /// <param name="overrides">`mesh run` flags that take precedence over the config.</param>
    public static IServiceCollection AddMeshAgent(this IServiceCollection services, FileInfo? configFile, AgentOverrides overrides)
    {
        services.AddSingleton(overrides);
        services.AddSingleton(provider => AgentConfig.Open(configFile, provider.GetRequiredService<ILoggerFactory>()));
        services.AddSingleton(provider => LibBpfLog.Install(provider.GetRequiredService<ILoggerFactory>().CreateLogger("libbpf")));
        services.AddSingleton<ClientSources>();
        services.AddSingleton<TelemetryOptionsMapper>();
        services.AddSingleton<DockerDiscovery>();
        services.AddSingleton<SpliceAgent>();
        services.AddSingleton<L4Agent>();
        services.AddSingleton<WorkloadRegistry>();
        services.AddSingleton<IWorkloadRegistry>(provider => provider.GetRequiredService<WorkloadRegistry>());
        services.AddSingleton<WorkloadWatcher>();
        services.AddSingleton<L7Agent>();
        // Health checks go to the endpoints themselves, never through an HTTP proxy from the environment.
        services.AddSingleton(_ => new EndpointProbe(new HttpClient(new SocketsHttpHandler { UseProxy = false })));
        services.AddSingleton<EndpointHealthProber>();
        services.AddSingleton<ServicesAgent>();
        services.AddSingleton<FlowHistory>();
        services.AddSingleton<FlowAgent>();
        services.AddSingleton<AgentStatusSource>();
        services.AddSingleton<AdminEndpoint>();
        services.AddSingleton<KernelMetrics>();
        // Started in this order and stopped in reverse: the L7 path goes first on shutdown. Discovery first, so the
        // datapaths start with the endpoints of the containers already running.
        services.AddHostedService(provider => provider.GetRequiredService<DockerDiscovery>());
        services.AddHostedService(provider => provider.GetRequiredService<SpliceAgent>());
        // L4 before L7: its connect programs must be attached before the diversion's (see L4Agent).
        services.AddHostedService(provider => provider.GetRequiredService<L4Agent>());
        // Before L7: the L7 path subscribes to the workloads the watcher finds, and stops before the watcher does.
        services.AddHostedService(provider => provider.GetRequiredService<WorkloadWatcher>());
        services.AddHostedService(provider => provider.GetRequiredService<L7Agent>());
        // After L7: the service table lives in the diversion's object, which the L7 path loads and pins.
        services.AddHostedService(provider => provider.GetRequiredService<ServicesAgent>());
        // After the datapaths, which pin the flow ring buffer; the admin API last, once there is something to serve.
        services.AddHostedService(provider => provider.GetRequiredService<FlowAgent>());
        services.AddHostedService(provider => provider.GetRequiredService<AdminEndpoint>());
        services.AddHostedService(provider => provider.GetRequiredService<KernelMetrics>());
        return services;
    }
}

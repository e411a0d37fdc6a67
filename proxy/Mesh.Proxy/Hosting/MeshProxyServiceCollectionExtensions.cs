using Mesh.Proxy.Forwarding;
using Mesh.Proxy.Hosting;
using Mesh.Proxy.Management;
using Mesh.Proxy.Policy;
using Mesh.Proxy.Resilience;
using Mesh.Proxy.Routing;
using Mesh.Proxy.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace Mesh.Proxy;

/// <summary>Registers the proxy's services and its request pipeline.</summary>
public static partial class MeshProxyServiceCollectionExtensions
{
    /// <summary>
    /// Adds the mesh proxy: YARP with <see cref="MeshProxyConfigProvider"/> as its config source, route matching scoped
    /// to the original destination, per-route policies and resilience, and the rate limiter. The caller registers an
    /// <see cref="IOriginalDestinationResolver"/>.
    /// </summary>
    public static IServiceCollection AddMeshProxy(this IServiceCollection services, Action<MeshProxyOptions>? configure = null)
    {
        var options = services.AddOptions<MeshProxyOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<RoutePipelineFactory>();
        services.TryAddSingleton<ProxyConfigCompiler>();
        services.TryAddSingleton(sp => new MeshProxyConfigProvider(
            sp.GetRequiredService<ProxyConfigCompiler>(),
            sp.GetRequiredService<ILogger<MeshProxyConfigProvider>>()));
        services.AddSingleton<IProxyConfigProvider>(sp => sp.GetRequiredService<MeshProxyConfigProvider>());
        services.TryAddSingleton<MirrorSender>();

        services.TryAddSingleton<RouteRateLimiter>();
        services.AddRateLimiter(_ => { });
        services.AddOptions<RateLimiterOptions>().Configure<RouteRateLimiter>((o, limiter) => limiter.Configure(o));

        services.AddRouting();
        services.TryAddSingleton<BackendEndpoints>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<MatcherPolicy, BackendEndpointSelectorPolicy>());
        services.AddReverseProxy().AddTransforms<MeshTransformProvider>();
        services.Replace(ServiceDescriptor.Singleton<IForwarderHttpClientFactory, MeshForwarderHttpClientFactory>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigChangeListener, ConfigChangeLogger>());
        return services;
    }

    /// <summary>
    /// The proxy's request pipeline, in order: telemetry (<c>RequestTelemetryMiddleware</c>, when
    /// <see cref="MeshTelemetryServiceCollectionExtensions.AddMeshProxyInstrumentation"/> was called) → the body size limit
    /// (<c>RequestBodyLimitMiddleware</c>, 413) → original destination → route match, authorization and deny
    /// (<c>MeshRoutingMiddleware</c>) → rate limit (routes that have one) → fault injection, redirect, body buffering,
    /// mirror, weighted backend and its YARP endpoint (<c>RouteFiltersMiddleware</c>, <c>BackendEndpoints</c>) → endpoint
    /// routing (which only matches when YARP has no endpoint for the backend yet) → YARP (power-of-two-choices load
    /// balancing, transforms, forwarder with the resilience handler). Use it as the whole pipeline of the proxy's app.
    /// </summary>
    public static IApplicationBuilder UseMeshProxy(this IApplicationBuilder app)
    {
        if (app.ApplicationServices.GetService<IOriginalDestinationResolver>() is null)
        {
            throw new InvalidOperationException($"The mesh proxy needs an {nameof(IOriginalDestinationResolver)} service.");
        }

        var logger = app.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger("Mesh.Proxy.Pipeline");
        app.UseMiddleware<ReadinessProbeMiddleware>();
        if (app.ApplicationServices.GetService<ProxyInstrumentation>() is not null)
        {
            app.UseMiddleware<RequestTelemetryMiddleware>();
        }

        app.UseMiddleware<RequestBodyLimitMiddleware>();
        app.UseMiddleware<MeshRoutingMiddleware>();
        // Only requests whose route has a limit meet the rate limiter: its middleware costs every request a lease and an
        // async state machine even when the partition has no limiter.
        app.UseWhen(
            static context => context.Features.Get<MeshRequestFeature>()?.Route.Model.RateLimit is not null,
            limited => limited.UseRateLimiter());
        app.UseMiddleware<RouteFiltersMiddleware>();
        app.UseRouting();
        app.UseEndpoints(endpoints =>
        {
            endpoints.MapReverseProxy(proxy => proxy.UseLoadBalancing());
            app.ApplicationServices.GetRequiredService<BackendEndpoints>().Follow(new CompositeEndpointDataSource(endpoints.DataSources));
        });
        app.Run(context =>
        {
            // Only reachable when a backend chosen from a just-replaced config has no YARP route yet (or any more).
            Log.BackendNotReady(logger, context.Features.Get<MeshRequestFeature>()?.Backend?.Name);
            return LocalReply.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, MeshHeaders.Error, "no-backend");
        });
        return app;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.BackendNotReady, Level = LogLevel.Warning,
            Message = "No YARP route for backend {Backend}; answering 503")]
        public static partial void BackendNotReady(ILogger logger, string? backend);
    }
}

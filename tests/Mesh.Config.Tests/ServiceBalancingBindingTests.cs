using System.Net;
using static Mesh.Config.Tests.ConfigParsing;

namespace Mesh.Config.Tests;

/// <summary>The keys of a service's translation in the kernel: weighted endpoints, <c>protocol: udp</c>, <c>healthCheck</c>.</summary>
public class ServiceBalancingBindingTests
{
    private const string Service = "services:\n  - name: catalog\n    address: 10.96.0.10\n    port: 8080\n";

    [Fact]
    public void Parse_WeightedEndpoints_KeepsWeightsAndOrder()
    {
        var service = Valid(Service + "    endpoints:\n      - 127.0.0.1:9001\n      - endpoint: 127.0.0.2:9001\n        weight: 3\n").Services[0];

        Assert.Equal([IPEndPoint.Parse("127.0.0.1:9001"), IPEndPoint.Parse("127.0.0.2:9001")], service.Endpoints);
        Assert.Equal((1, 3), (service.WeightOf(IPEndPoint.Parse("127.0.0.1:9001")), service.WeightOf(IPEndPoint.Parse("127.0.0.2:9001"))));
        Assert.True(service.IsTranslated);
    }

    [Fact]
    public void Parse_NoHealthCheck_HasDocumentedDefaults()
    {
        var check = Valid(Service + "    endpoints: [127.0.0.1:9001]\n").Services[0].HealthCheck;

        Assert.Equal((HealthCheckKind.Tcp, TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(500), 2, 2),
            (check.Kind, check.Interval, check.Timeout, check.HealthyThreshold, check.UnhealthyThreshold));
    }

    [Fact]
    public void Parse_HttpHealthCheck_BindsEveryKey()
    {
        var check = Valid(Service + "    endpoints: [127.0.0.1:9001]\n    healthCheck:\n      type: http\n      path: /healthz\n      interval: 2s\n      timeout: 1s\n"
            + "      healthyThreshold: 3\n      unhealthyThreshold: 1\n").Services[0].HealthCheck;

        Assert.Equal(new HealthCheck { Kind = HealthCheckKind.Http, Path = "/healthz", Interval = TimeSpan.FromSeconds(2), Timeout = TimeSpan.FromSeconds(1), HealthyThreshold = 3, UnhealthyThreshold = 1 }, check);
    }

    [Fact]
    public void Parse_ProtocolUdp_IsAUdpService()
    {
        Assert.Equal(ServiceTransport.Udp, Valid(Service + "    protocol: udp\n    endpoints: [127.0.0.1:5353]\n").Services[0].Transport);
    }

    [Fact]
    public void Parse_NoEndpoints_IsNotTranslated()
    {
        Assert.False(Valid(Service).Services[0].IsTranslated);
    }

    [Fact]
    public void Parse_EndpointNotAnAddress_IsAnErrorAtTheItem()
    {
        AssertError(SingleError(Service + "    endpoints:\n      - catalog-1:9001\n"), 6, 9, "'services[0].endpoints[0]'");
        AssertError(SingleError(Service + "    endpoints:\n      - endpoint: nowhere\n        weight: 2\n"), 6, 19, "'services[0].endpoints[0].endpoint'");
    }

    [Fact]
    public void Parse_OnlyEndpointIsTheServiceItself_IsAnError()
    {
        var error = SingleError(Service + "    endpoints: [10.96.0.10:8080]\n");

        AssertError(error, 5, 16, "lists only the service's own address 10.96.0.10:8080", "remove 'endpoints'");
    }

    [Fact]
    public void Parse_EndpointsOfOtherFamilyOnly_AreLeftToTheProxyAndNotTranslated()
    {
        var service = Valid(Service + "    endpoints: [\"[::1]:9001\", \"[::ffff:127.0.0.1]:9002\"]\n").Services[0];

        Assert.Equal([IPEndPoint.Parse("127.0.0.1:9002")], service.TranslatableEndpoints);
        Assert.False(Valid(Service + "    endpoints: [\"[::1]:9001\"]\n").Services[0].IsTranslated);
    }

    [Fact]
    public void Parse_ZeroWeight_IsAnError()
    {
        AssertError(SingleError(Service + "    endpoints:\n      - endpoint: 127.0.0.1:9001\n        weight: 0\n"), 7, 17, "'services[0].endpoints[0].weight'");
    }

    [Fact]
    public void Parse_TimeoutLongerThanInterval_IsAnError()
    {
        var error = SingleError(Service + "    endpoints: [127.0.0.1:9001]\n    healthCheck:\n      interval: 1s\n      timeout: 2s\n");

        AssertError(error, 8, 16, "longer than the interval");
    }

    [Fact]
    public void Parse_KubernetesProbeKeys_SayWhatToWrite()
    {
        AssertError(SingleError(Service + "    endpoints: [127.0.0.1:9001]\n    healthCheck:\n      periodSeconds: 5\n"), 7, 7, "write 'interval: 5s'");
    }

    [Fact]
    public void Parse_UdpServiceWithHealthCheck_IsAnError()
    {
        var error = SingleError(Service + "    protocol: udp\n    endpoints: [127.0.0.1:5353]\n    healthCheck: { interval: 1s }\n");

        AssertError(error, 7, 5, "UDP service, whose endpoints are not probed");
    }

    [Fact]
    public void Parse_UdpServiceWithRules_IsAnError()
    {
        var error = SingleError(Service + "    protocol: udp\n    endpoints: [127.0.0.1:5353]\n    default: deny\n");

        AssertError(error, 2, 5, "UDP service with HTTP policy");
    }
}

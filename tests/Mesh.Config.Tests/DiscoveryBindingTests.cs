using static Mesh.Config.Tests.ConfigParsing;

namespace Mesh.Config.Tests;

/// <summary>Services that select containers by label, and the <c>discovery</c> section that finds them.</summary>
public class DiscoveryBindingTests
{
    [Fact]
    public void Parse_Selector_KeepsLabelsInOrder_AndLeavesEndpointsToDiscovery()
    {
        var config = Valid("""
            services:
              - { name: catalog, address: 10.96.0.10, port: 8080, selector: { mesh.service: catalog, app.kubernetes.io/tier: api } }
            """);

        var service = Assert.Single(config.Services);
        Assert.Equal([new LabelMatch("mesh.service", "catalog"), new LabelMatch("app.kubernetes.io/tier", "api")], service.Selector);
        Assert.Empty(service.Endpoints);
    }

    [Fact]
    public void Parse_NoDiscoverySection_FollowsTheDefaultDockerSocket()
    {
        Assert.Equal("/var/run/docker.sock", Valid("splice: on\n").Discovery.Docker.Socket);
        Assert.Equal("/run/user/1000/docker.sock", Valid("discovery: { docker: { socket: /run/user/1000/docker.sock } }\n").Discovery.Docker.Socket);
    }

    [Theory]
    [InlineData("selector: {}", 4, 15, "expects labels and their values")]
    [InlineData("selector: [mesh.service]", 4, 15, "expects labels and their values")]
    [InlineData("selector: { mesh.service: [a, b] }", 4, 31, "expects a label value")]
    [InlineData("selector: { mesh.service: a, mesh.service: b }", 4, 34, "the label 'mesh.service' is already selected")]
    [InlineData("endpoints: [127.0.0.1:1]\n    selector: { mesh.service: a }", 5, 15, "has both 'endpoints' and 'selector'")]
    public void Parse_BadSelector_IsOneErrorWithItsPosition(string line, int errorLine, int errorColumn, string message)
    {
        var error = SingleError($"services:\n  - name: web\n    address: 10.96.0.10\n    {line}\n    port: 80\n");

        AssertError(error, errorLine, errorColumn, message);
    }

    [Fact]
    public void Parse_RelativeDockerSocket_IsAnError()
    {
        var error = SingleError("discovery:\n  docker: { socket: docker.sock }\n");

        AssertError(error, 2, 21, "discovery.docker.socket");
    }
}

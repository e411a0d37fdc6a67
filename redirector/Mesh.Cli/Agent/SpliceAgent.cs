using System.Net.NetworkInformation;
using Mesh.Redirector;
using Mesh.Redirector.Interop;
using Mesh.Redirector.Programs;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.Cli.Agent;

/// <summary>Keeps the kernel splice attached for the life of the agent and in step with the node's addresses.</summary>
internal sealed class SpliceAgent : IHostedService, IDisposable
{
    private readonly SpliceOptions _options;
    private readonly AgentRunSettings _run;
    private readonly ILogger<SpliceAgent> _logger;
    private readonly ILoggerFactory _loggerFactory;
    private LibBpfLog? _libBpfLog;
    private SpliceDatapath? _datapath;

    public SpliceAgent(IOptions<SpliceOptions> options, AgentRunSettings run, ILoggerFactory loggerFactory)
    {
        _options = options.Value;
        _run = run;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<SpliceAgent>();
    }

    public SpliceDatapath Datapath => _datapath ?? throw new InvalidOperationException("the splice is not attached");

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _libBpfLog = LibBpfLog.Install(_loggerFactory.CreateLogger("libbpf"));
        _datapath = SpliceDatapath.Attach(_options, _libBpfLog, _logger);
        RefreshNodeAddresses();
        NetworkChange.NetworkAddressChanged += OnNetworkAddressChanged;
        new AgentState(Environment.ProcessId, _datapath.CgroupPath, _options.PinDirectory, _options.Enabled, _run.ConfigDescription, DateTimeOffset.UtcNow).Write();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        NetworkChange.NetworkAddressChanged -= OnNetworkAddressChanged;
        if (_datapath is not null)
        {
            AgentState.Delete(_options.PinDirectory);
            _datapath.Dispose();
            _datapath = null;
        }
        _libBpfLog?.Dispose();
        _libBpfLog = null;
    }

    private void OnNetworkAddressChanged(object? sender, EventArgs e) => RefreshNodeAddresses();

    private void RefreshNodeAddresses()
    {
        var addresses = NodeAddresses.Current();
        _datapath?.SetNodeAddresses(addresses);
        _logger.LogDebug("Node addresses: {Addresses}", string.Join(", ", addresses));
    }
}

/// <summary>How this agent run was started, for status output.</summary>
internal sealed record AgentRunSettings(string ConfigDescription);

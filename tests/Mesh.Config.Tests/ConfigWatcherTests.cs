using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Mesh.Config.Tests;

[Collection(ReloadTimingCollection.Name)]
public sealed class ConfigWatcherTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly string _path;

    public ConfigWatcherTests()
    {
        _path = _temp.File("mesh.yaml");
    }

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Start_ValidFile_ReturnsConfigAndSetsCurrent()
    {
        File.WriteAllText(_path, "splice: off\n");
        using var watcher = CreateWatcher();

        var result = watcher.Start();

        Assert.True(result.IsValid);
        Assert.False(result.Config.Splice);
        Assert.Same(result.Config, watcher.Current);
    }

    [Fact]
    public void Start_InvalidFile_ReturnsErrorsAndLeavesCurrentNull()
    {
        File.WriteAllText(_path, "splice: maybe\n");
        using var watcher = CreateWatcher();

        var result = watcher.Start();

        var error = Assert.Single(result.Errors);
        Assert.Equal((1, 9), (error.Line, error.Column));
        Assert.Null(watcher.Current);
    }

    [Fact]
    public async Task Edit_ValidChange_DeliveredWithinOneSecond()
    {
        File.WriteAllText(_path, "splice: on\n");
        using var watcher = CreateWatcher();
        var events = new WatcherEvents(watcher);
        watcher.Start();

        var elapsed = Stopwatch.StartNew();
        File.WriteAllText(_path, "splice: off\n");
        var config = await events.NextChangedAsync();
        elapsed.Stop();

        Assert.False(config.Splice);
        Assert.Same(config, watcher.Current);
        Assert.True(elapsed.Elapsed < TimeSpan.FromSeconds(1), $"delivered after {elapsed.Elapsed.TotalMilliseconds} ms");
    }

    [Fact]
    public async Task Edit_InvalidThenFixed_KeepsLastGoodThenRecovers()
    {
        File.WriteAllText(_path, "splice: off\n");
        using var watcher = CreateWatcher();
        var events = new WatcherEvents(watcher);
        var lastGood = watcher.Start().Config;

        File.WriteAllText(_path, "splice: on\nagent:\n  cgroup: relative\n  bpfPinDr: /x\n");
        var errors = await events.NextRejectedAsync();

        Assert.Collection(errors,
            e => Assert.Equal((_path, 3, 11), (e.File, e.Line, e.Column)),
            e => Assert.Equal((_path, 4, 3), (e.File, e.Line, e.Column)));
        Assert.Same(lastGood, watcher.Current);

        File.WriteAllText(_path, "splice: on\nagent:\n  cgroup: /sys/fs/cgroup\n");
        var fixedConfig = await events.NextChangedAsync();

        Assert.True(fixedConfig.Splice);
        Assert.Equal("/sys/fs/cgroup", fixedConfig.Agent.Cgroup);
        Assert.Same(fixedConfig, watcher.Current);
    }

    [Fact]
    public async Task ReplaceByRename_ValidChange_DeliveredWithinOneSecond()
    {
        File.WriteAllText(_path, "splice: on\n");
        using var watcher = CreateWatcher();
        var events = new WatcherEvents(watcher);
        watcher.Start();

        // What editors and config tools do to save atomically: write a temporary file, rename it over the old one.
        var elapsed = Stopwatch.StartNew();
        var temporary = _temp.File(".mesh.yaml.swp");
        File.WriteAllText(temporary, "splice: off\n");
        File.Move(temporary, _path, overwrite: true);
        var config = await events.NextChangedAsync();
        elapsed.Stop();

        Assert.False(config.Splice);
        Assert.True(elapsed.Elapsed < TimeSpan.FromSeconds(1), $"delivered after {elapsed.Elapsed.TotalMilliseconds} ms");
    }

    [Fact]
    public async Task Delete_File_ReportsNotFoundAndKeepsLastGood()
    {
        File.WriteAllText(_path, "splice: off\n");
        using var watcher = CreateWatcher();
        var events = new WatcherEvents(watcher);
        var lastGood = watcher.Start().Config;

        File.Delete(_path);
        var error = Assert.Single(await events.NextRejectedAsync());

        Assert.Equal((_path, 0, 0), (error.File, error.Line, error.Column));
        Assert.Contains("not found", error.Message);
        Assert.Same(lastGood, watcher.Current);
    }

    [Fact]
    public async Task Create_FileMissingAtStart_DeliveredOnceWritten()
    {
        using var watcher = CreateWatcher();
        var events = new WatcherEvents(watcher);
        Assert.False(watcher.Start().IsValid);

        File.WriteAllText(_path, "");
        var config = await events.NextChangedAsync();

        Assert.Equal(new MeshConfig(), config);
        Assert.Same(config, watcher.Current);
    }

    [Fact]
    public async Task Edit_OtherFileInDirectory_RaisesNothing()
    {
        File.WriteAllText(_path, "splice: on\n");
        using var watcher = CreateWatcher();
        var events = new WatcherEvents(watcher);
        watcher.Start();

        File.WriteAllText(_temp.File("other.yaml"), "splice: off\n");

        await events.AssertNoneAsync();
    }

    [Fact]
    public async Task Dispose_ThenEdit_RaisesNothing()
    {
        File.WriteAllText(_path, "splice: on\n");
        var watcher = CreateWatcher();
        var events = new WatcherEvents(watcher);
        watcher.Start();

        watcher.Dispose();
        File.WriteAllText(_path, "splice: off\n");

        await events.AssertNoneAsync();
    }

    private ConfigWatcher CreateWatcher() =>
        new(Options.Create(new ConfigWatcherOptions { Path = _path }), new MeshConfigLoader(), NullLogger<ConfigWatcher>.Instance);
}

using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using Mesh.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Xunit.Abstractions;

namespace Mesh.Config.Tests.Fuzzing;

/// <summary>
/// The running config untouched: a watcher fed a stream of fuzzed invalid edits keeps the config
/// it started with, raises no change for any of them, and still takes the next valid edit.
/// </summary>
[Collection(FuzzingCollection.Name)]
public sealed class WatcherFuzzTests(ITestOutputHelper output) : IDisposable
{
    private const int InvalidEdits = 200;

    /// <summary>Where this test's documents start in the run, apart from the loader fuzz test's.</summary>
    private const int FirstIndex = 1_000_000;

    /// <summary>Bounds the wait for one reload; a reload takes milliseconds.</summary>
    private static readonly TimeSpan ReloadTimeout = TimeSpan.FromSeconds(10);

    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Watch_FuzzedInvalidEdits_KeepsTheConfigInEffectThenTakesAValidEdit()
    {
        var path = Path.GetFullPath(_temp.File("mesh.yaml"));
        var initialText = File.ReadAllText(RepositoryFiles.FullPath("config/examples/l7-deny-and-headers.yaml"));
        File.WriteAllText(path, initialText);
        var loader = new MeshConfigLoader();
        using var watcher = new ConfigWatcher(Options.Create(new ConfigWatcherOptions { Path = path, Debounce = TimeSpan.FromMilliseconds(20) }),
            loader, NullLogger<ConfigWatcher>.Instance);
        var events = Channel.CreateUnbounded<(MeshConfig? Changed, IReadOnlyList<ConfigError>? Rejected)>();
        watcher.Changed += (_, config) => events.Writer.TryWrite((config, null));
        watcher.Rejected += (_, errors) => events.Writer.TryWrite((null, errors));
        var initial = watcher.Start().Config;
        Assert.NotNull(initial);
        output.WriteLine($"Writing {InvalidEdits} invalid documents over a watched valid config, {FuzzSeed.Describe()}");

        var corpus = new FuzzCorpus(FuzzSeed.Value);
        var elapsed = Stopwatch.StartNew();
        var (written, skipped) = (0, 0);
        for (var index = FirstIndex; written < InvalidEdits; index++)
        {
            // Half damage the config in effect, half are any fuzzed document.
            var document = index % 2 == 0 ? corpus.Mutation(index, initialText) : corpus.Document(index);
            // Written beside the file and renamed over it, as editors save, so no reload sees half a document;
            // what the watcher will report is what the loader makes of the file as written.
            var temporary = _temp.File("mesh.yaml.tmp");
            // UTF-8 with U+FFFD for the surrogate halves fuzzing makes, which File.WriteAllText refuses.
            File.WriteAllBytes(temporary, Encoding.UTF8.GetBytes(document.Text));
            var expected = loader.Parse(File.ReadAllText(temporary), path);
            if (expected.IsValid)
            {
                skipped++;
                continue;
            }
            File.Move(temporary, path, overwrite: true);
            written++;
            await WaitForRejectionAsync(events.Reader, expected.Errors, document);
            Assert.Same(initial, watcher.Current);
        }
        elapsed.Stop();

        // A late event would come within a few debounce periods.
        await Task.Delay(TimeSpan.FromMilliseconds(200));
        while (events.Reader.TryRead(out var late))
        {
            Assert.True(late.Changed is null, $"a change was raised after the invalid edits: {late.Changed}");
        }
        Assert.Same(initial, watcher.Current);
        Assert.Equal(loader.Parse(initialText, path).Config, watcher.Current);
        output.WriteLine($"Wrote {written} invalid documents (skipped {skipped} fuzzed ones that were valid) in {elapsed.Elapsed.TotalSeconds:F1} s; "
            + "each was rejected, none raised a change, and the config in effect stayed the initial one");

        var validText = "splice: off\n" + initialText;
        File.WriteAllText(_temp.File("mesh.yaml.tmp"), validText);
        File.Move(_temp.File("mesh.yaml.tmp"), path, overwrite: true);
        var changed = await WaitForChangeAsync(events.Reader);

        Assert.False(changed.Splice);
        Assert.Equal(loader.Parse(validText, path).Config, changed);
        Assert.Same(changed, watcher.Current);
    }

    /// <summary>Waits for the watcher to reject <paramref name="document"/>; fails on a change, or when no reload comes.</summary>
    private static async Task WaitForRejectionAsync(ChannelReader<(MeshConfig? Changed, IReadOnlyList<ConfigError>? Rejected)> events,
        IReadOnlyList<ConfigError> expected, FuzzDocument document)
    {
        using var timeout = new CancellationTokenSource(ReloadTimeout);
        while (true)
        {
            (MeshConfig? Changed, IReadOnlyList<ConfigError>? Rejected) next;
            try
            {
                next = await events.ReadAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"the watcher reported nothing within {ReloadTimeout.TotalSeconds} s of writing {Describe(document)}");
            }
            Assert.True(next.Changed is null, $"the watcher raised a change for an invalid document: {Describe(document)}");
            // An earlier document's report may still come in; this document's has its errors.
            if (next.Rejected!.SequenceEqual(expected))
            {
                return;
            }
        }
    }

    private static async Task<MeshConfig> WaitForChangeAsync(ChannelReader<(MeshConfig? Changed, IReadOnlyList<ConfigError>? Rejected)> events)
    {
        using var timeout = new CancellationTokenSource(ReloadTimeout);
        while (true)
        {
            var next = await events.ReadAsync(timeout.Token);
            if (next.Changed is { } config)
            {
                return config;
            }
        }
    }

    private static string Describe(FuzzDocument document) =>
        $"document {document.Index} of the run with {FuzzSeed.Describe()} ({document.Origin}):\n{LoaderProperties.Literal(document.Text)}";
}

using Xunit.Abstractions;

namespace Mesh.Config.Tests.Fuzzing;

/// <summary>
/// The attacks the fuzz run draws at random, each on its own with the numbers that broke the
/// loader before it bounded them: alias bombs, deep nesting, long names, aliased regular
/// expressions, and text YamlDotNet throws on without a position.
/// </summary>
[Collection(FuzzingCollection.Name)]
public sealed class HostileInputTests(ITestOutputHelper output)
{
    private readonly MeshConfigLoader _loader = new();

    public static TheoryData<string, string> AliasBombs() => new()
    {
        { "9 levels of 9 under an unknown key", HostileYaml.Laughs(9, 9) },
        { "9 levels of 9 under services", HostileYaml.Laughs(9, 9, "services") },
        { "30 levels of 2 under l4", HostileYaml.Laughs(30, 2, "l4") },
        // 2.8 KB that bound 300³ matches: 84 s and 56 GB allocated before aliases were bounded.
        { "300 services of 300 rules of 300 matches", HostileYaml.SchemaBomb(300) },
        { "aliases as keys and merge keys", HostileYaml.KeyBomb(400) },
    };

    [Theory]
    [MemberData(nameof(AliasBombs))]
    public void Parse_AliasBomb_RejectedWithinTimeAndMemory(string bomb, string yaml)
    {
        var outcome = Check(bomb, yaml);

        var error = Assert.Single(outcome.Result!.Errors);
        Assert.Contains("aliases", error.Message);
        Assert.Contains("billion laughs", error.Message);
    }

    [Fact]
    public void Parse_AliasesJustUnderTheLimit_BindWithinTimeAndMemory()
    {
        // 18 services of 18 rules of 18 matches: over 80,000 values repeated, all bound.
        var outcome = Check("18 services of 18 rules of 18 matches", HostileYaml.SchemaBomb(18));

        Assert.DoesNotContain(outcome.Result!.Errors, e => e.Message.Contains("billion laughs", StringComparison.Ordinal));
        Assert.Contains(outcome.Result.Errors, e => e.Message.Contains("duplicate service name 'catalog'", StringComparison.Ordinal));
    }

    [Fact]
    public void Parse_AnchorSharedBetweenRules_Valid()
    {
        var config = ConfigParsing.Valid("""
            services:
              - name: catalog
                address: 127.0.0.10
                port: 8080
                rules:
                  - name: reads
                    matches: [{ path: { type: PathPrefix, value: /items } }]
                    retry: &retry { attempts: 3, codes: [502, 503], backoff: 50ms }
                    timeouts: &timeouts { request: 5s, backendRequest: 1s }
                  - name: writes
                    matches: [{ path: { type: PathPrefix, value: /orders } }]
                    retry: *retry
                    timeouts: *timeouts
            """);

        var rules = config.Services[0].Rules;
        Assert.Equal(rules[0].Retry, rules[1].Retry);
        Assert.Equal(3, rules[1].Retry!.Attempts);
    }

    [Theory]
    [InlineData(DeepStyle.FlowLists, 100_000)]
    [InlineData(DeepStyle.FlowMappings, 100_000)]
    [InlineData(DeepStyle.Unclosed, 100_000)]
    [InlineData(DeepStyle.BlockMappings, 1_000)]
    [InlineData(DeepStyle.BlockLists, 1_000)]
    public void Parse_DeepNesting_RejectedWithoutExhaustingTheStack(DeepStyle style, int depth)
    {
        // On a thread with a sixth of the thread pool's stack, to show the reader stops long before the stack does.
        ParseOutcome? outcome = null;
        var thread = new Thread(() => outcome = Check($"{style} {depth} deep", HostileYaml.Deep(depth, style)), maxStackSize: 256 * 1024);
        thread.Start();
        thread.Join();

        var error = Assert.Single(outcome!.Result!.Errors);
        Assert.Contains("nested more than 64 levels deep", error.Message);
    }

    [Theory]
    [InlineData(63, false)]
    [InlineData(64, true)]
    public void Parse_NestingAtTheLimit_ReadUpTo64Levels(int lists, bool tooDeep)
    {
        // The root mapping is the first level, so splice's lists are levels 2 to lists + 1.
        var errors = ConfigParsing.Errors($"splice: {new string('[', lists)}{new string(']', lists)}\n");

        var error = Assert.Single(errors);
        Assert.Equal(tooDeep, error.Message.Contains("nested more than 64 levels deep", StringComparison.Ordinal));
    }

    [Fact]
    public void Parse_LongServiceNames_ComparedWithinTimeAndMemory()
    {
        // Names of 20,000 characters took 12 s and 1.6 GB to compare for a typo suggestion; 100,000 ran out of memory.
        var outcome = Check("names of 100,000 characters", HostileYaml.LongNames(100_000));

        Assert.Contains(outcome.Result!.Errors, e => e.Message.Contains("no service in this file has that name", StringComparison.Ordinal));
    }

    [Fact]
    public void Parse_SlowRegexAliasedThousandsOfTimes_CompiledOnce()
    {
        // Compiled once per alias, 9,000 aliases of this pattern took 15 s.
        Check("a regular expression aliased 9,000 times", HostileYaml.RegexAliases(9_000));
    }

    [Theory]
    [InlineData("...\nsplice: on\n", 1, 1)]
    [InlineData("# comment\n\n... # end\n    rules:\n", 3, 1)]
    public void Parse_DocumentEndBeforeTheDocument_ReportedAtTheMarker(string yaml, int line, int column)
    {
        var error = ConfigParsing.SingleError(yaml);

        ConfigParsing.AssertError(error, line, column, "invalid YAML: '...' ends a document here", "remove this line");
    }

    [Theory]
    [InlineData("splice: [x\u0085y]\n")]
    [InlineData("splice: \"\\uD800\\u0041\"\n")]
    [InlineData("agent: { cgroup: \"/sys/\\uD83D\\uD83D\" }\n")]
    public void Parse_TextYamlDotNetThrowsOn_ReportedAsInvalidYaml(string yaml)
    {
        var outcome = Check("text YamlDotNet throws on", yaml);

        var error = Assert.Single(outcome.Result!.Errors);
        Assert.StartsWith("invalid YAML: cannot read past here", error.Message);
    }

    /// <summary>Parses <paramref name="yaml"/> under the fuzz run's properties, and says what it cost.</summary>
    private ParseOutcome Check(string what, string yaml)
    {
        var outcome = LoaderProperties.Check(_loader, yaml);
        output.WriteLine($"{what}: {yaml.Length} characters, parsed in {outcome.Elapsed.TotalMilliseconds:F0} ms, "
            + $"{outcome.AllocatedBytes / (1024.0 * 1024):F1} MiB allocated, {outcome.Result?.Errors.Count} errors, first: {outcome.Result?.Errors.FirstOrDefault()}");
        Assert.True(outcome.Violation is null, $"{what}: {outcome.Violation}\n{LoaderProperties.Literal(yaml, 500)}");
        Assert.False(outcome.Result!.IsValid);
        return outcome;
    }
}

using Mesh.Testing;
namespace Mesh.Config.Tests;

public class MeshConfigLoaderTests
{
    private const string FileName = "mesh.yaml";

    private readonly MeshConfigLoader _loader = new();

    [Fact]
    public void Parse_EmptyText_ReturnsDefaults()
    {
        var config = ParseValid("");

        Assert.True(config.Splice);
        Assert.Null(config.Agent.Cgroup);
        Assert.Equal("/sys/fs/bpf/mesh", config.Agent.BpfPinDir);
    }

    [Fact]
    public void Parse_OnlyComments_ReturnsDefaults()
    {
        Assert.Equal(new MeshConfig(), ParseValid("# nothing set yet\n"));
    }

    [Fact]
    public void Parse_SectionWithEveryKeyCommentedOut_ReturnsDefaults()
    {
        Assert.Equal(new MeshConfig(), ParseValid("agent:\n  # cgroup: /sys/fs/cgroup\n"));
    }

    [Fact]
    public void Parse_EveryKeySet_ReturnsValues()
    {
        var config = ParseValid("""
            splice: off
            agent:
              cgroup: /sys/fs/cgroup/unified
              bpfPinDir: /sys/fs/bpf/other
            """);

        Assert.False(config.Splice);
        Assert.Equal("/sys/fs/cgroup/unified", config.Agent.Cgroup);
        Assert.Equal("/sys/fs/bpf/other", config.Agent.BpfPinDir);
    }

    [Theory]
    [InlineData("on", true)]
    [InlineData("off", false)]
    [InlineData("true", true)]
    [InlineData("false", false)]
    [InlineData("Off", false)]
    [InlineData("\"off\"", false)]
    public void Parse_SwitchWord_ReadsSplice(string word, bool expected)
    {
        Assert.Equal(expected, ParseValid($"splice: {word}\n").Splice);
    }

    [Fact]
    public void Parse_MisspelledKey_SuggestsClosestKey()
    {
        var error = SingleError("splcie: on\n");

        Assert.Equal(new ConfigError(FileName, 1, 1, "unknown key 'splcie'; did you mean 'splice'?"), error);
    }

    [Fact]
    public void Parse_MisspelledNestedKey_SuggestsClosestKeyInSection()
    {
        var error = SingleError("agent:\n  bpfPinDri: /sys/fs/bpf/mesh\n");

        Assert.Equal(new ConfigError(FileName, 2, 3, "unknown key 'bpfPinDri' in 'agent'; did you mean 'bpfPinDir'?"), error);
    }

    [Fact]
    public void Parse_KeyInWrongCase_SuggestsKeyAndSaysKeysAreCaseSensitive()
    {
        var error = SingleError("Splice: off\n");

        Assert.Equal((1, 1), (error.Line, error.Column));
        Assert.Contains("did you mean 'splice'?", error.Message);
        Assert.Contains("case-sensitive", error.Message);
    }

    [Fact]
    public void Parse_UnrelatedKey_ListsAllowedKeys()
    {
        var error = SingleError("splice: on\ncolour: red\n");

        Assert.Equal((2, 1), (error.Line, error.Column));
        Assert.StartsWith("unknown key 'colour'; the keys allowed here are ", error.Message);
        Assert.Contains("splice", error.Message);
        Assert.Contains("agent", error.Message);
    }

    [Fact]
    public void Parse_MappingWhereSwitchExpected_ReportsWrongTypeAtMapping()
    {
        var error = SingleError("splice:\n  enabled: true\n");

        Assert.Equal((2, 3), (error.Line, error.Column));
        Assert.Contains("'splice' expects on, off, true or false, but found a mapping", error.Message);
        Assert.Contains("'splice: off'", error.Message);
    }

    [Fact]
    public void Parse_ValueWhereSectionExpected_ReportsWrongTypeAtValue()
    {
        var error = SingleError("agent: /sys/fs/cgroup\n");

        Assert.Equal((1, 8), (error.Line, error.Column));
        Assert.Contains("'agent' expects a mapping with the keys cgroup, bpfPinDir, drainTimeout, but found the value '/sys/fs/cgroup'", error.Message);
        Assert.Contains("indented under 'agent:'", error.Message);
    }

    [Fact]
    public void Parse_ListWherePathExpected_ReportsWrongTypeAtList()
    {
        var error = SingleError("agent:\n  cgroup:\n    - /sys/fs/cgroup\n");

        Assert.Equal((3, 5), (error.Line, error.Column));
        Assert.Contains("'agent.cgroup' expects an absolute path, but found a list", error.Message);
        Assert.Contains("'cgroup: /sys/fs/cgroup'", error.Message);
    }

    [Fact]
    public void Parse_ListAtTopLevel_ReportsWrongType()
    {
        var error = SingleError("- splice: on\n");

        Assert.Equal((1, 1), (error.Line, error.Column));
        Assert.Contains("the config file expects a mapping", error.Message);
        Assert.Contains("one 'key: value' per line", error.Message);
    }

    [Fact]
    public void Parse_InvalidSwitchWord_ListsAcceptedWords()
    {
        var error = SingleError("splice: yes\n");

        Assert.Equal(new ConfigError(FileName, 1, 9, "'splice' is 'yes', which is not a switch; write on, off, true or false"), error);
    }

    [Fact]
    public void Parse_SwitchWithoutValue_ReportsMissingValueWhereItBelongs()
    {
        var error = SingleError("splice:\n");

        Assert.Equal((1, 8), (error.Line, error.Column));
        Assert.Contains("'splice' has no value; write on, off, true or false", error.Message);
    }

    [Theory]
    [InlineData("cgroup")]
    [InlineData("bpfPinDir")]
    public void Parse_RelativePath_AsksForAbsolutePath(string key)
    {
        var error = SingleError($"agent:\n  {key}: sys/fs/mesh\n");

        Assert.Equal((2, key.Length + 5), (error.Line, error.Column));
        Assert.Contains($"'agent.{key}' must be an absolute path, but 'sys/fs/mesh' is relative", error.Message);
        Assert.Contains("starting with '/'", error.Message);
    }

    [Theory]
    [InlineData("cgroup", "\"\"")]
    [InlineData("cgroup", "'  '")]
    [InlineData("bpfPinDir", "\"\"")]
    public void Parse_EmptyPath_AsksForPathOrRemovingKey(string key, string value)
    {
        var error = SingleError($"agent:\n  {key}: {value}\n");

        Assert.Equal((2, key.Length + 5), (error.Line, error.Column));
        Assert.Contains($"'agent.{key}' is empty", error.Message);
        Assert.Contains("remove the key to use the default", error.Message);
    }

    [Fact]
    public void Parse_PathWithoutValue_ReportsEmptyPathAfterColon()
    {
        var error = SingleError("agent:\n  bpfPinDir:\n");

        Assert.Equal((2, 13), (error.Line, error.Column));
        Assert.Contains("'agent.bpfPinDir' is empty", error.Message);
    }

    [Fact]
    public void Parse_DuplicateKey_ReportsSecondOccurrence()
    {
        var error = SingleError("splice: on\nagent: {}\nsplice: off\n");

        Assert.Equal(new ConfigError(FileName, 3, 1, "duplicate key 'splice', first set at line 1; remove one of the two"), error);
    }

    [Fact]
    public void Parse_DuplicateKeyInSection_ReportsSecondOccurrence()
    {
        var error = SingleError("agent:\n  cgroup: /a\n  cgroup: /b\n");

        Assert.Equal(new ConfigError(FileName, 3, 3, "duplicate key 'cgroup' in 'agent', first set at line 2; remove one of the two"), error);
    }

    [Fact]
    public void Parse_KeyThatIsNotAName_ReportsKeyPosition()
    {
        var error = SingleError("? [splice, agent]\n: on\n");

        Assert.Equal((1, 3), (error.Line, error.Column));
        Assert.Contains("a key must be a plain name, but found a list", error.Message);
    }

    [Fact]
    public void Parse_SyntaxError_ReportsParserPosition()
    {
        var error = SingleError("splice: on\nagent:\n  cgroup: /sys: fs\n");

        // At the second ': ', which YAML reads as the start of a nested mapping.
        Assert.Equal((3, 15), (error.Line, error.Column));
        Assert.StartsWith("invalid YAML: ", error.Message);
        Assert.Contains("check the indentation", error.Message);
    }

    [Theory]
    [InlineData("splice: on\nservices:\n  - name: a\n    routes: [unclosed\n", 5, 1, "'[' opened at 4:13 is not closed")]
    [InlineData("agent: {cgroup: /a,\nsplice: on\n", 2, 1, "'{' opened at 1:8 is not closed")]
    [InlineData("l4:\n  rules: [{name: a, ports: [1, 2}\n", 2, 33, "'[' opened at 2:28 is not closed")]
    public void Parse_UnclosedFlowCollection_NamesWhereItOpened(string yaml, int line, int column, string opened)
    {
        var error = SingleError(yaml);

        Assert.Equal((line, column), (error.Line, error.Column));
        Assert.StartsWith("invalid YAML: ", error.Message);
        Assert.Contains(opened, error.Message);
    }

    [Fact]
    public void Parse_SecondDocument_ReportsDocumentStart()
    {
        var error = SingleError("splice: on\n---\nsplice: off\n");

        Assert.Equal((2, 1), (error.Line, error.Column));
        Assert.Contains("remove this '---'", error.Message);
    }

    [Fact]
    public void Parse_AliasOfAnchor_UsesAnchoredValue()
    {
        var config = ParseValid("agent:\n  cgroup: &dir /sys/fs/bpf/x\n  bpfPinDir: *dir\n");

        Assert.Equal("/sys/fs/bpf/x", config.Agent.BpfPinDir);
    }

    [Fact]
    public void Parse_AliasWithoutAnchor_ReportsAliasPosition()
    {
        var error = SingleError("splice: on\nagent:\n  cgroup: *dir\n");

        Assert.Equal((3, 11), (error.Line, error.Column));
        Assert.Contains("'*dir' refers to no anchor", error.Message);
    }

    [Fact]
    public void Parse_SeveralMistakes_ReportsEveryOneInFileOrder()
    {
        var result = _loader.Parse("""
            splcie: on
            splice: maybe
            agent:
              cgroup: relative/dir
              bpfPinDir: ""
              bpfPinDir: /sys/fs/bpf/mesh
            extra: 1
            """, FileName);

        Assert.False(result.IsValid);
        Assert.Collection(result.Errors,
            e => AssertError(e, 1, 1, "unknown key 'splcie'"),
            e => AssertError(e, 2, 9, "'splice' is 'maybe'"),
            e => AssertError(e, 4, 11, "'agent.cgroup' must be an absolute path"),
            e => AssertError(e, 5, 14, "'agent.bpfPinDir' is empty"),
            e => AssertError(e, 6, 3, "duplicate key 'bpfPinDir'"),
            e => AssertError(e, 7, 1, "unknown key 'extra'"));
    }

    [Fact]
    public void Load_MissingFile_ReportsFileAtLineZero()
    {
        using var temp = new TempDirectory();
        var path = temp.File("absent.yaml");

        var result = _loader.Load(path);

        var error = Assert.Single(result.Errors);
        Assert.Equal((path, 0, 0), (error.File, error.Line, error.Column));
        Assert.Contains("config file not found", error.Message);
    }

    [Fact]
    public void Load_InvalidFile_ReportsErrorsAgainstPath()
    {
        using var temp = new TempDirectory();
        var path = temp.File("mesh.yaml");
        File.WriteAllText(path, "splice: on\nsplice: off\n");

        var error = Assert.Single(_loader.Load(path).Errors);

        Assert.StartsWith($"{path}:2:1: duplicate key 'splice'", error.ToString());
    }

    [Fact]
    public void Load_ShippedDefaultConfig_ReturnsDefaults()
    {
        var result = _loader.Load(RepositoryFiles.FullPath("config/mesh.yaml"));

        Assert.Empty(result.Errors);
        Assert.Equal(new MeshConfig(), result.Config);
    }

    [Fact]
    public void Load_SpliceOffExample_TurnsOnlySpliceOff()
    {
        var result = _loader.Load(RepositoryFiles.FullPath("config/examples/splice-off.yaml"));

        Assert.Empty(result.Errors);
        Assert.Equal(new MeshConfig { Splice = false }, result.Config);
    }

    [Fact]
    public void ToString_Error_RendersFileLineColumnMessage()
    {
        var error = new ConfigError("/etc/mesh/mesh.yaml", 3, 11, "'agent.cgroup' is empty");

        Assert.Equal("/etc/mesh/mesh.yaml:3:11: 'agent.cgroup' is empty", error.ToString());
    }

    [Fact]
    public void Failure_NoErrors_Throws()
    {
        Assert.Throws<ArgumentException>(() => ConfigResult.Failure([]));
    }

    private MeshConfig ParseValid(string yaml)
    {
        var result = _loader.Parse(yaml, FileName);
        Assert.Empty(result.Errors);
        Assert.True(result.IsValid);
        return result.Config;
    }

    private ConfigError SingleError(string yaml)
    {
        var result = _loader.Parse(yaml, FileName);
        Assert.False(result.IsValid);
        Assert.Null(result.Config);
        var error = Assert.Single(result.Errors);
        Assert.Equal(FileName, error.File);
        return error;
    }

    private static void AssertError(ConfigError error, int line, int column, string messageStart)
    {
        Assert.Equal((line, column), (error.Line, error.Column));
        Assert.StartsWith(messageStart, error.Message);
    }
}

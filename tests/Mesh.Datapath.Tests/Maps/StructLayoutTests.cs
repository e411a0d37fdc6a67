using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.RegularExpressions;
using Mesh.Datapath.Maps;

namespace Mesh.Datapath.Tests.Maps;

/// <summary>
/// Every struct shared with the kernel programs has one C# mirror; these tests compare each
/// mirror's size and field offsets with the BTF the compiler emitted for the built objects.
/// </summary>
public sealed class StructLayoutTests
{
    public static TheoryData<string, string, Type> SharedStructs => new()
    {
        { "sockops.bpf.o", "sock_key", typeof(SockKey) },
        { "sockops.bpf.o", "served_address", typeof(ServedAddress) },
        { "sockops.bpf.o", "splice_settings", typeof(SpliceSettings) },
        { "redirect.bpf.o", "splice_direction", typeof(SpliceDirection) },
        { "divert.bpf.o", "service_key", typeof(ServiceKey) },
        { "divert.bpf.o", "service_policy", typeof(ServicePolicy) },
        { "divert.bpf.o", "original_dst", typeof(OriginalDst) },
        { "divert.bpf.o", "divert_settings", typeof(DivertSettings) },
        { "divert.bpf.o", "lb_service_key", typeof(LbServiceKey) },
        { "divert.bpf.o", "lb_service", typeof(LbService) },
        { "divert.bpf.o", "lb_slot_key", typeof(LbSlotKey) },
        { "divert.bpf.o", "lb_endpoint", typeof(LbEndpoint) },
        { "divert.bpf.o", "lb_udp_flow", typeof(LbUdpFlow) },
        { "divert.bpf.o", "flow_event", typeof(FlowEvent) },
        { "xdp_filter.bpf.o", "l4_prefix_key", typeof(L4PrefixKey) },
        { "xdp_filter.bpf.o", "l4_rule_set", typeof(L4RuleSet) },
        { "xdp_filter.bpf.o", "l4_rule", typeof(L4RuleEntry) },
        { "xdp_filter.bpf.o", "l4_generation", typeof(L4Generation) },
        { "xdp_filter.bpf.o", "l4_active", typeof(L4Active) },
        { "xdp_filter.bpf.o", "l4_rule_stats", typeof(L4RuleStats) },
        { "local_policy.bpf.o", "l4_rule_stats", typeof(L4RuleStats) },
        { "sockops.bpf.o", "flow_event", typeof(FlowEvent) },
        { "xdp_filter.bpf.o", "flow_event", typeof(FlowEvent) },
        { "sockops.bpf.o", "flow_settings", typeof(FlowSettings) },
    };

    [Theory]
    [MemberData(nameof(SharedStructs))]
    public void Mirror_OfSharedStruct_MatchesBtfSizeAndOffsets(string objectFile, string structName, Type mirror)
    {
        var btf = BtfStruct(objectFile, structName);

        Assert.Equal(btf.GetProperty("size").GetInt32(), Marshal.SizeOf(mirror));
        var members = btf.GetProperty("members").EnumerateArray().ToList();
        var fields = mirror.GetFields().Where(field => !field.IsStatic).ToList();
        Assert.Equal(members.Select(member => PascalCase(member.GetProperty("name").GetString()!)), fields.Select(field => field.Name));
        foreach (var member in members)
        {
            var name = PascalCase(member.GetProperty("name").GetString()!);
            Assert.Equal(member.GetProperty("bits_offset").GetInt32() / 8, (int)Marshal.OffsetOf(mirror, name));
        }
    }

    [Fact]
    public void SpliceCounter_Values_MatchHeaderEnum() => AssertEnumMirrors<SpliceCounter>("splice_counter", "SPLICE");

    [Fact]
    public void DivertCounter_Values_MatchHeaderEnum() => AssertEnumMirrors<DivertCounter>("divert_counter", "DIVERT");

    [Fact]
    public void LbCounter_Values_MatchHeaderEnum() => AssertEnumMirrors<LbCounter>("lb_counter", "LB");

    [Fact]
    public void L4Counter_Values_MatchHeaderEnum() => AssertEnumMirrors<L4Counter>("l4_counter", "L4");

    [Fact]
    public void FlowCounter_Values_MatchHeaderEnum() => AssertEnumMirrors<FlowCounter>("flow_counter", "FLOW");

    [Fact]
    public void FlowVerdict_Values_MatchHeaderEnum()
    {
        var header = File.ReadAllText(Path.Combine(RepositoryRoot(), "bpf", "include", "mesh_types.h"));
        var body = Regex.Match(header, @"enum flow_verdict \{(.*?)\};", RegexOptions.Singleline).Groups[1].Value;
        var values = Regex.Matches(body, @"\bFLOW_(\w+)\s*=\s*(\d+)")
            .Select(match => KeyValuePair.Create(PascalCase(match.Groups[1].Value.ToLowerInvariant()), uint.Parse(match.Groups[2].Value)));

        Assert.Equal(values, Enum.GetValues<FlowVerdict>().Select(value => KeyValuePair.Create(value.ToString(), (uint)value)));
    }

    [Fact]
    public void L4Limits_MatchHeaderDefines()
    {
        var header = File.ReadAllText(Path.Combine(RepositoryRoot(), "bpf", "include", "mesh_types.h"));
        int Define(string name) => int.Parse(Regex.Match(header, $@"#define {name} (\d+)").Groups[1].Value);

        Assert.Equal((Define("L4_MAX_RULES"), Define("L4_GENERATIONS")), (L4Limits.MaxRules, L4Limits.Generations));
        Assert.Equal((uint)L4KernelAction.Deny, uint.Parse(Regex.Match(header, @"L4_DENY = (\d+)").Groups[1].Value));
    }

    /// <summary>
    /// Compares a C# enum with C enum <paramref name="enumName"/>, whose constants start with
    /// <paramref name="prefix"/>_ and end with PREFIX_COUNTER_MAX.
    /// </summary>
    private static void AssertEnumMirrors<TEnum>(string enumName, string prefix) where TEnum : struct, Enum
    {
        var header = File.ReadAllText(Path.Combine(RepositoryRoot(), "bpf", "include", "mesh_types.h"));
        var body = Regex.Match(header, $@"enum {enumName} \{{(.*?)\}};", RegexOptions.Singleline).Groups[1].Value;
        var constants = Regex.Matches(body, $@"\b{prefix}_(\w+)\s*=\s*(\d+)").ToList();
        var values = constants
            .Where(match => match.Groups[1].Value != "COUNTER_MAX")
            .ToDictionary(match => PascalCase(match.Groups[1].Value.ToLowerInvariant()), match => uint.Parse(match.Groups[2].Value));

        Assert.Equal(values.OrderBy(pair => pair.Value), Enum.GetValues<TEnum>().Select(value => KeyValuePair.Create(value.ToString(), Convert.ToUInt32(value))));
        Assert.Equal(values.Count, int.Parse(constants.Single(match => match.Groups[1].Value == "COUNTER_MAX").Groups[2].Value));
    }

    [Fact]
    public void SockKey_Size_IsEightByteAlignedForHashing()
    {
        // A key with tail padding would hash uninitialised bytes; the C side pads explicitly.
        Assert.Equal(0, Unsafe.SizeOf<SockKey>() % 8);
    }

    private static JsonElement BtfStruct(string objectFile, string structName)
    {
        var path = Path.Combine(RepositoryRoot(), "bpf", "out", objectFile);
        var start = new ProcessStartInfo("bpftool", ["-j", "btf", "dump", "file", path]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var bpftool = Process.Start(start)!;
        var json = bpftool.StandardOutput.ReadToEnd();
        bpftool.WaitForExit();
        Assert.True(bpftool.ExitCode == 0, $"bpftool btf dump {path}: {bpftool.StandardError.ReadToEnd()}");
        using var document = JsonDocument.Parse(json);
        return document.RootElement.GetProperty("types").EnumerateArray()
            .Single(type => type.GetProperty("kind").GetString() == "STRUCT" && type.TryGetProperty("name", out var name) && name.GetString() == structName)
            .Clone();
    }

    private static string PascalCase(string snakeCase) =>
        string.Concat(snakeCase.Split('_').Select(word => char.ToUpperInvariant(word[0]) + word[1..]));

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Mesh.sln")))
        {
            directory = directory.Parent;
        }
        return directory?.FullName ?? throw new InvalidOperationException("Mesh.sln not found above the test assembly");
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace Mesh.Kernel.Tests.Agent;

/// <summary>
/// A temporary --bpf-dir whose sockops.bpf.o the verifier refuses: bpf/sockops.bpf.c with a map
/// lookup dereferenced without its NULL check, beside a copy of the good redirect.bpf.o.
/// </summary>
public sealed partial class BrokenBpfObjects : IDisposable
{
    /// <summary>What the verifier says about the injected dereference.</summary>
    public const string VerifierReason = "invalid mem access";

    private const string UncheckedMap = """
        /* Injected by BrokenBpfObjects: a hash map whose lookup result is used without a NULL check. */
        struct {
        	__uint(type, BPF_MAP_TYPE_HASH);
        	__uint(max_entries, 1);
        	__type(key, __u32);
        	__type(value, __u64);
        } mesh_test_unchecked SEC(".maps");

        """;

    private const string UncheckedDereference = """

        	{
        		__u32 mesh_test_key = 0;
        		__u64 *mesh_test_value = bpf_map_lookup_elem(&mesh_test_unchecked, &mesh_test_key);

        		if (*mesh_test_value == 42) /* no NULL check: the verifier must refuse this */
        			return 0;
        	}
        """;

    private BrokenBpfObjects(string directory)
    {
        Directory = directory;
    }

    public string Directory { get; }

    public static async Task<BrokenBpfObjects> BuildAsync()
    {
        var repository = RepositoryRoot();
        var bpf = Path.Combine(repository, "bpf");
        var goodRedirect = Path.Combine(bpf, "out", "redirect.bpf.o");
        Assert.True(File.Exists(goodRedirect), $"{goodRedirect} is missing: build bpf/ first (make -C bpf)");
        Assert.True(File.Exists(Path.Combine(bpf, "out", "vmlinux.h")), "bpf/out/vmlinux.h is missing: build bpf/ first (make -C bpf)");

        var source = await File.ReadAllTextAsync(Path.Combine(bpf, "sockops.bpf.c"));
        var entry = SockOpsEntry().Match(source);
        Assert.True(entry.Success, "bpf/sockops.bpf.c no longer defines int splice_register(...) { : update BrokenBpfObjects");
        var broken = source[..entry.Index] + UncheckedMap + entry.Value + UncheckedDereference + source[(entry.Index + entry.Length)..];

        var directory = System.IO.Directory.CreateTempSubdirectory("mesh-test-bpf-").FullName;
        // The agent reads it after dropping root to its own user (mesh run --run-as).
        File.SetUnixFileMode(directory, (UnixFileMode)0b111_101_101);
        var objects = new BrokenBpfObjects(directory);
        try
        {
            await File.WriteAllTextAsync(Path.Combine(directory, "sockops.bpf.c"), broken);
            var arch = RuntimeInformation.OSArchitecture switch
            {
                Architecture.X64 => "x86",
                Architecture.Arm64 => "arm64",
                var other => other.ToString().ToLowerInvariant(),
            };
            var clang = await MeshCli.ExecAsync("clang",
                ["-g", "-O2", "-target", "bpf", $"-D__TARGET_ARCH_{arch}", $"-I{Path.Combine(bpf, "out")}", $"-I{Path.Combine(bpf, "include")}",
                 "-c", Path.Combine(directory, "sockops.bpf.c"), "-o", Path.Combine(directory, "sockops.bpf.o")],
                TimeSpan.FromSeconds(120));
            Assert.True(clang.ExitCode == 0, $"the deliberately broken program did not even compile:{Environment.NewLine}{clang}");
            File.Copy(goodRedirect, Path.Combine(directory, "redirect.bpf.o"));
            return objects;
        }
        catch
        {
            objects.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        if (System.IO.Directory.Exists(Directory))
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
    }

    /// <summary>The checkout this test file was compiled from (the tests may run from any artifacts path).</summary>
    private static string RepositoryRoot([CallerFilePath] string thisFile = "")
    {
        var directory = Path.GetDirectoryName(thisFile);
        while (directory is not null && !File.Exists(Path.Combine(directory, "Mesh.sln")))
        {
            directory = Path.GetDirectoryName(directory);
        }
        Assert.True(directory is not null, $"no Mesh.sln above {thisFile}");
        return directory!;
    }

    // The program's opening brace, with its SEC("...") line so the injected map can go before both.
    [GeneratedRegex(@"(SEC\(""[^""]*""\)\s*)?int\s+splice_register\s*\([^)]*\)\s*\{")]
    private static partial Regex SockOpsEntry();
}

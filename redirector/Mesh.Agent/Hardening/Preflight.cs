using System.Globalization;
using System.Runtime.InteropServices;

namespace Mesh.Agent.Hardening;

/// <summary>Checks, before anything is loaded, that this machine and process can run the datapath; answers with one sentence.</summary>
public static class Preflight
{
    private const int CapNetAdmin = 12;
    private const int CapSysAdmin = 21;
    private const int CapBpf = 39;

    /// <summary>Null when everything needed is there, else what is missing and how to get it.</summary>
    public static string? MissingForDatapath()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "Mesh runs on Linux only: it loads eBPF programs into the kernel.";
        }
        if (!File.Exists("/sys/kernel/btf/vmlinux"))
        {
            return "this kernel exposes no BTF (/sys/kernel/btf/vmlinux): Mesh needs a kernel built with CONFIG_DEBUG_INFO_BTF (5.10 or later).";
        }
        if (!NativeLibrary.TryLoad("libbpf.so.1", out var libbpf))
        {
            return "libbpf is not installed: install it with 'apt-get install libbpf1'.";
        }
        NativeLibrary.Free(libbpf);
        var capabilities = EffectiveCapabilities();
        var canLoad = Has(capabilities, CapSysAdmin) || Has(capabilities, CapBpf);
        if (!canLoad || !Has(capabilities, CapNetAdmin))
        {
            return "loading BPF programs needs root (or CAP_BPF and CAP_NET_ADMIN): run mesh with sudo.";
        }
        return null;
    }

    private static bool Has(ulong capabilities, int capability) => (capabilities & (1UL << capability)) != 0;

    private static ulong EffectiveCapabilities()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("CapEff:", StringComparison.Ordinal))
            {
                return ulong.Parse(line["CapEff:".Length..].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            }
        }
        return 0;
    }
}

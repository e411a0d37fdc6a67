using System.Runtime.InteropServices;

namespace Mesh.Agent.Hardening;

/// <summary>
/// Caps glibc's malloc at two arenas (<c>mallopt(M_ARENA_MAX, 2)</c>, as <c>MALLOC_ARENA_MAX=2</c> would): per-thread
/// arenas keep their high-water mark and made most of the agent's RSS growth in the soak (loadtest/README.md). glibc
/// fixes the limit when it first needs more arenas, so this runs before any thread starts; an operator's value wins.
/// </summary>
public static partial class NativeHeapArenas
{
    private const int ArenaMaxParameter = -8; // M_ARENA_MAX in <malloc.h>
    private const int ArenaMax = 2;

    /// <summary>Applies the cap unless the environment sets one. Without glibc (musl has no arenas) it does nothing.</summary>
    public static void CapUnlessSet()
    {
        if (Environment.GetEnvironmentVariable("MALLOC_ARENA_MAX") is not null)
        {
            return;
        }
        try
        {
            Mallopt(ArenaMaxParameter, ArenaMax);
        }
        catch (EntryPointNotFoundException)
        {
        }
    }

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int Mallopt(int parameter, int value);
}

using System.Runtime.InteropServices;

namespace Mesh.Cli.Agent;

/// <summary>
/// Caps glibc's malloc at two arenas for the agent and its node proxy process (<c>mallopt(M_ARENA_MAX, 2)</c>, what <c>MALLOC_ARENA_MAX=2</c> does
/// for a process started with it).
/// </summary>
/// <remarks>
/// glibc gives each thread that meets a locked arena a new one, up to 8 per core, and memory freed in one arena is
/// never reused by a thread of another. The agent's thread-pool threads come and go with the load, and the runtime's
/// native allocations (JIT, type loading, sockets) end up spread over a dozen arenas that each keep their high-water
/// mark. In the soak (loadtest/soak.sh, 300 s with reloads and upstream kills) the arenas grew from 6 to 29 MiB while
/// the .NET heap stayed at 5 MiB, and RSS grew 11 to 27 %; with two arenas, 3 arena regions instead of 15 and RSS
/// 7 to 15 % (what is left is the tiered JIT's code, see loadtest/README.md). Two are enough: the agent's hot paths
/// allocate managed memory, not native. An operator who sets <c>MALLOC_ARENA_MAX</c> keeps their
/// value. glibc fixes its arena limit when it first needs more than 8 arenas, so this runs first thing in
/// <c>mesh run</c> and <c>mesh proxy</c>, before they have started their threads.
/// </remarks>
internal static partial class NativeHeapArenas
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

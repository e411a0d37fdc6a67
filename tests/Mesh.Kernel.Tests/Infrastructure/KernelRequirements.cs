using Mesh.Agent.Hardening;

namespace Mesh.Kernel.Tests.Infrastructure;

/// <summary>
/// These tests need root and BPF. When either is missing they fail with the reason; they are
/// never skipped, so CI cannot pass without exercising the data path.
/// </summary>
internal static class KernelRequirements
{
    public static void Ensure()
    {
        if (Preflight.MissingForDatapath() is { } missing)
        {
            Assert.Fail($"kernel tests cannot run: {missing}");
        }
    }
}

using Mesh.Config;

namespace Mesh.Kernel.Tests.Infrastructure;

/// <summary>L4 policies written as the user writes them: YAML through the real loader.</summary>
public static class L4Policies
{
    public static L4Policy Parse(string l4Section)
    {
        var result = new MeshConfigLoader().Parse(l4Section, "test.yaml");
        Assert.True(result.IsValid, string.Join(Environment.NewLine, result.Errors));
        return result.Config.L4;
    }
}

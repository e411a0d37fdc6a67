namespace Mesh.Datapath.Programs;

/// <summary>
/// What a datapath loaded and attached, released in reverse order: links before the programs and
/// maps they use, maps before the object that owns them.
/// </summary>
internal sealed class ResourceStack : IDisposable
{
    private readonly Stack<IDisposable> _resources = new();

    public T Push<T>(T resource) where T : IDisposable
    {
        _resources.Push(resource);
        return resource;
    }

    public void Dispose()
    {
        while (_resources.TryPop(out var resource))
        {
            resource.Dispose();
        }
    }
}

namespace Mesh.Proxy.Routing;

/// <summary>
/// Chooses a backend service per request in proportion to the weights, with smooth weighted round robin (as nginx
/// does): over any run of requests the split is as close to the weights as whole requests allow (80/20 gives exactly
/// 800/200 per 1,000), and picks of the same backend are spread out instead of bunched as random draws would be.
/// </summary>
internal sealed class WeightedBackendSelector
{
    private readonly BackendService[] _backends;
    private readonly int[] _weights;
    private readonly long[] _current;
    private readonly int _total;
    private readonly Lock _gate = new();

    public WeightedBackendSelector(IReadOnlyList<(BackendService Backend, int Weight)> backends)
    {
        var positive = backends.Where(b => b.Weight > 0).ToArray();
        _backends = [.. positive.Select(b => b.Backend)];
        _weights = [.. positive.Select(b => b.Weight)];
        _current = new long[_backends.Length];
        _total = _weights.Sum();
    }

    public IReadOnlyList<BackendService> Backends => _backends;

    public BackendService Next()
    {
        if (_backends.Length == 1)
        {
            return _backends[0];
        }

        lock (_gate)
        {
            var best = 0;
            for (var i = 0; i < _backends.Length; i++)
            {
                _current[i] += _weights[i];
                if (_current[i] > _current[best])
                {
                    best = i;
                }
            }

            _current[best] -= _total;
            return _backends[best];
        }
    }
}

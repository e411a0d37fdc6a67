namespace Mesh.Agent.Workloads;

/// <summary>
/// The workloads by cgroup, kept by <see cref="WorkloadWatcher"/>. Observers are called under the registry's lock, so
/// each sees every change exactly once and in order, and a subscription never misses one made meanwhile.
/// </summary>
internal sealed class WorkloadRegistry : IWorkloadRegistry
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Workload> _workloads = new(StringComparer.Ordinal);
    private readonly List<IWorkloadObserver> _observers = [];

    public IReadOnlyList<Workload> Current
    {
        get
        {
            lock (_lock)
            {
                return [.. _workloads.Values];
            }
        }
    }

    public IDisposable Subscribe(IWorkloadObserver observer)
    {
        lock (_lock)
        {
            foreach (var workload in _workloads.Values)
            {
                observer.Added(workload);
            }
            _observers.Add(observer);
        }
        return new Subscription(this, observer);
    }

    public void Add(Workload workload)
    {
        lock (_lock)
        {
            _workloads.Add(workload.Cgroup, workload);
            foreach (var observer in _observers)
            {
                observer.Added(workload);
            }
        }
    }

    /// <summary>Replaces a workload with the same one at new addresses.</summary>
    public void UpdateAddresses(Workload workload)
    {
        lock (_lock)
        {
            if (!_workloads.ContainsKey(workload.Cgroup))
            {
                return;
            }
            _workloads[workload.Cgroup] = workload;
            foreach (var observer in _observers)
            {
                observer.AddressesChanged(workload);
            }
        }
    }

    public void Remove(Workload workload)
    {
        lock (_lock)
        {
            if (!_workloads.Remove(workload.Cgroup))
            {
                return;
            }
            foreach (var observer in _observers)
            {
                observer.Removed(workload);
            }
        }
    }

    private void Unsubscribe(IWorkloadObserver observer)
    {
        lock (_lock)
        {
            _observers.Remove(observer);
        }
    }

    private sealed class Subscription(WorkloadRegistry registry, IWorkloadObserver observer) : IDisposable
    {
        public void Dispose() => registry.Unsubscribe(observer);
    }
}

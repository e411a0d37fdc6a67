using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>Binds a service's <c>source</c>: how its connections are recognised when it is the client.</summary>
internal sealed class ServiceSourceBinder
{
    private readonly MappingBinder<ServiceSource> _source = new(
    [
        new("cidrs", (source, value, path, errors) =>
        {
            var cidrs = ListValues.Bind(value, path, "- 127.0.0.0/8", (item, itemPath) => NetworkValues.ReadCidr(item, itemPath, errors), errors);
            return source with { Cidrs = cidrs.StructValues() };
        }),
        new("cgroup", (source, value, path, errors) =>
            ScalarValues.ReadAbsolutePath(value, path, "/sys/fs/cgroup/frontend.slice", "none", errors) is { } dir ? source with { Cgroup = dir } : source),
        new("workload", (source, value, path, errors) =>
            ScalarValues.ReadName(value, path, "web", errors) is { } workload ? source with { Workload = workload } : source),
        new("labels", (source, value, path, errors) => source with { Labels = LabelValues.ReadSelector(value, path, "app: web", errors) }),
    ], new Dictionary<string, string>
    {
        ["ipBlocks"] = "write 'cidrs'",
        ["principals"] = "Mesh recognises a client by address, cgroup, workload or labels: write 'cidrs', 'cgroup', 'workload' or 'labels'",
        ["matchLabels"] = "write 'labels'",
        ["selector"] = "write 'labels' (a source selects workloads by their labels; 'selector' picks a service's endpoints)",
    });

    public ServiceSource Bind(ConfigNode node, string path, ConfigErrorList errors)
    {
        var before = errors.Count;
        var source = _source.Bind(node, new ServiceSource(), path, errors);
        if (errors.Count == before && source is { Cidrs.Count: 0, Cgroup: null, Workload: null, Labels.Count: 0 })
        {
            errors.Add(node, $"'{path}' recognises no connection; write 'cidrs: [127.0.0.0/8]' with the client addresses and/or 'cgroup: /sys/fs/cgroup/...', 'workload: web' or 'labels: {{ app: web }}', or remove it");
        }
        // One way to pick workloads keeps a rule's meaning plain: a named workload's own labels already select it.
        if (source is { Workload: { } workload, Labels.Count: > 0 } && (node as MappingNode)?.Find("labels") is { } labels)
        {
            errors.Add(labels.Key, $"'{path}' names the workload '{workload}' and also selects workloads by 'labels'; keep one: "
                + $"'workload: {workload}' for that workload only, or 'labels' for every workload with those labels (give '{workload}' labels under 'workloads' to include it)");
        }
        return source;
    }
}

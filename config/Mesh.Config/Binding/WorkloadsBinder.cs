using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>Binds the <c>workloads</c> section: each workload's name, cgroup and labels; names are unique.</summary>
internal sealed class WorkloadsBinder
{
    private readonly MappingBinder<WorkloadConfig> _workload = new(
    [
        new("name", (workload, value, path, errors) =>
            ScalarValues.ReadName(value, path, "web", errors) is { } name ? workload with { Name = name } : workload, Required: "name: web"),
        new("cgroup", (workload, value, path, errors) =>
            ScalarValues.ReadAbsolutePath(value, path, "/sys/fs/cgroup/pods/web", "none", errors) is { } dir ? workload with { Cgroup = dir } : workload,
            Required: "cgroup: /sys/fs/cgroup/pods/web"),
        new("labels", (workload, value, path, errors) => workload with { Labels = BindLabels(value, path, errors) }),
    ]);

    public ValueList<WorkloadConfig> Bind(ConfigNode node, string path, ConfigErrorList errors)
    {
        var workloads = ListValues.Bind(node, path, "- name: web", (item, itemPath) => _workload.Bind(item, new WorkloadConfig(), itemPath, errors), errors);
        ListValues.ReportDuplicates(workloads.Where(w => w.IsValid).ToList(), w => w.Name, StringComparer.Ordinal,
            (name, first) => $"duplicate workload name '{name}', first at line {first.Node.Line}; sources refer to workloads by name, so rename one",
            errors, at: item => item.Node);
        return ValueList.From(workloads.Select(w => w.Item));
    }

    private static ValueList<KeyValuePair<string, string>> BindLabels(ConfigNode node, string path, ConfigErrorList errors)
    {
        if (node is not MappingNode mapping)
        {
            errors.Add(node, $"'{path}' expects a mapping of label names to values, such as '{{ app: web }}', but found {node.Description}");
            return [];
        }
        var labels = new List<KeyValuePair<string, string>>();
        foreach (var entry in mapping.Entries)
        {
            if (entry.Key is ScalarNode { IsNull: false } key && entry.Value is ScalarNode value)
            {
                labels.Add(new(key.Value, value.Value));
            }
            else
            {
                errors.Add(entry.Key, $"'{path}' expects 'name: value' pairs of text");
            }
        }
        return ValueList.From(labels);
    }
}

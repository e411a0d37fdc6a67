using System.Globalization;
using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>
/// The services a file declares, read ahead of binding them, so that a rule can check the names
/// it refers to (backendRefs, mirrors, allowFrom) at the node that names them, whatever order
/// the services come in.
/// </summary>
internal sealed class ServiceDirectory
{
    private readonly Dictionary<string, Entry> _services;

    private ServiceDirectory(Dictionary<string, Entry> services)
    {
        _services = services;
    }

    /// <param name="Port">The service's port, or null when it is not a valid number (reported where it is bound).</param>
    /// <param name="HasSource">Whether the service has a <c>source</c>, which authorization needs.</param>
    public sealed record Entry(int? Port, bool HasSource);

    public IEnumerable<string> Names => _services.Keys;

    /// <summary>The first service of each name in <paramref name="services"/>; items that are not mappings with a name are skipped.</summary>
    public static ServiceDirectory Scan(ConfigNode services)
    {
        var entries = new Dictionary<string, Entry>(StringComparer.Ordinal);
        foreach (var item in (services as SequenceNode)?.Items ?? [])
        {
            if (item is MappingNode mapping && mapping.Find("name")?.Value is ScalarNode { IsNull: false } name)
            {
                var port = mapping.Find("port")?.Value is ScalarNode portNode && int.TryParse(portNode.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var p) ? p : (int?)null;
                var source = mapping.Find("source")?.Value is { } s && s is not ScalarNode { IsNull: true };
                entries.TryAdd(name.Value, new Entry(port, source));
            }
        }
        return new ServiceDirectory(entries);
    }

    /// <summary>The port of the named service, when it has a valid one.</summary>
    public int? Port(string name) => _services.TryGetValue(name, out var entry) ? entry.Port : null;

    /// <summary>The named service, or null after reporting that the file has none of that name.</summary>
    /// <param name="purpose">What the name is for, to follow "so ": "requests cannot be sent to it".</param>
    public Entry? Find(ScalarNode name, string path, string purpose, ConfigErrorList errors)
    {
        if (_services.TryGetValue(name.Value, out var entry))
        {
            return entry;
        }
        var known = _services.Keys.ToList();
        var fix = KeySuggestion.Closest(name.Value, known) is { } close
            ? $"did you mean '{close}'?"
            : known.Count == 0
                ? $"add a service named '{name.Value}' under 'services'"
                : $"write one of {string.Join(", ", known)}, or add a service named '{name.Value}' under 'services'";
        errors.Add(name, $"'{path}' names the service '{name.Value}', but no service in this file has that name, so {purpose}; {fix}");
        return null;
    }
}

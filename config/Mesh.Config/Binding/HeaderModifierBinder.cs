using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>Binds Gateway API's HTTPHeaderFilter: the settings of RequestHeaderModifier and ResponseHeaderModifier.</summary>
internal sealed class HeaderModifierBinder
{
    private readonly MappingBinder<HeaderModifier> _modifier;
    private readonly MappingBinder<HttpHeader> _header;

    public HeaderModifierBinder()
    {
        _header = new(
        [
            new("name", (header, value, path, errors) =>
                ScalarValues.ReadHeaderName(value, path, errors) is { } name ? header with { Name = name } : header, Required: "name: x-env"),
            new("value", (header, value, path, errors) =>
                ScalarValues.ReadHeaderValue(value, path, errors) is { } text ? header with { Value = text } : header, Required: "value: canary"),
        ]);
        _modifier = new(
        [
            new("set", (modifier, value, path, errors) => modifier with { Set = BindHeaders(value, path, errors) }),
            new("add", (modifier, value, path, errors) => modifier with { Add = BindHeaders(value, path, errors) }),
            new("remove", (modifier, value, path, errors) =>
            {
                var names = ListValues.Bind(value, path, "- x-internal", (item, itemPath) => ScalarValues.ReadHeaderName(item, itemPath, errors), errors);
                ListValues.ReportDuplicates(names, n => n, StringComparer.OrdinalIgnoreCase,
                    (name, first) => $"'{name}' is already removed at line {first.Node.Line} (header names are case-insensitive); remove one of the two", errors);
                return modifier with { Remove = names.Values() };
            }),
        ]);
    }

    public HeaderModifier? Bind(ConfigNode node, string path, ConfigErrorList errors)
    {
        var before = errors.Count;
        var modifier = _modifier.Bind(node, new HeaderModifier(), path, errors);
        if (errors.Count == before && modifier.Set.Count + modifier.Add.Count + modifier.Remove.Count == 0)
        {
            errors.Add(node, $"'{path}' changes no header; add 'set', 'add' or 'remove', or remove the filter");
            return null;
        }
        return modifier;
    }

    private ValueList<HttpHeader> BindHeaders(ConfigNode node, string path, ConfigErrorList errors)
    {
        var items = ListValues.Bind(node, path, "- { name: x-env, value: canary }", (item, itemPath) => _header.Bind(item, new HttpHeader("", ""), itemPath, errors), errors);
        ListValues.ReportDuplicates(items, h => h.Name, StringComparer.OrdinalIgnoreCase,
            (name, first) => $"duplicate header '{name}' in '{path}', first at line {first.Node.Line} (header names are case-insensitive); keep one",
            errors, at: item => (item.Node as MappingNode)?.Find("name")?.Value ?? item.Node);
        return ValueList.From(items.Select(i => i.Item));
    }
}

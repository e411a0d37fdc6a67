using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>Binds Gateway API's HTTPPathModifier, the <c>path</c> of URLRewrite and RequestRedirect.</summary>
internal sealed class PathModifierBinder
{
    private static readonly (string Type, string Key)[] Types =
        [("ReplaceFullPath", "replaceFullPath"), ("ReplacePrefixMatch", "replacePrefixMatch")];

    private readonly MappingBinder<string> _modifier;

    public PathModifierBinder()
    {
        KeyBinder<string> readPath = (current, value, path, errors) =>
        {
            if (ScalarValues.ReadText(value, path, "a path", "/v2", errors) is not { } text)
            {
                return current;
            }
            var before = errors.Count;
            MatchBinder.CheckPath((ScalarNode)value, path, errors);
            return errors.Count == before ? text : current;
        };
        _modifier = new(
        [
            new("type", (current, value, path, errors) => current),
            new("replaceFullPath", readPath),
            new("replacePrefixMatch", readPath),
        ]);
    }

    public PathModifier? Bind(ConfigNode node, string path, ConfigErrorList errors)
    {
        var value = _modifier.Bind(node, "", path, errors);
        if (TypedMapping.CheckType(node, path, Types, [], errors) is not { } key || value.Length == 0)
        {
            return null;
        }
        return new PathModifier(key == "replaceFullPath" ? PathModifierType.ReplaceFullPath : PathModifierType.ReplacePrefixMatch, value);
    }
}

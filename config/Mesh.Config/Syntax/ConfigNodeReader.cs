using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Mesh.Config.Syntax;

/// <summary>Turns YAML text into a <see cref="ConfigNode"/> tree, with positions, from YamlDotNet's event stream.</summary>
internal sealed class ConfigNodeReader
{
    /// <summary>
    /// The root node of the file's one document, or null when the file has none (empty or only
    /// comments). Malformed YAML throws <see cref="YamlException"/>, whose mark is the error position.
    /// </summary>
    public ConfigNode? Read(string yamlText, ConfigErrorList errors)
    {
        var parser = new Parser(new StringReader(yamlText));
        var anchors = new Dictionary<string, ConfigNode>(StringComparer.Ordinal);

        parser.Consume<StreamStart>();
        if (!parser.TryConsume<DocumentStart>(out _))
        {
            return null;
        }
        var root = ReadNode(parser, anchors, isRoot: true);
        parser.Consume<DocumentEnd>();

        if (parser.TryConsume<DocumentStart>(out var second))
        {
            errors.Add(Line(second.Start), Column(second.Start),
                "a second YAML document starts here, but the config is one document; remove this '---' and merge what follows into the first document");
        }
        return root;
    }

    private static ConfigNode ReadNode(IParser parser, Dictionary<string, ConfigNode> anchors, bool isRoot = false)
    {
        var next = parser.Consume<ParsingEvent>();
        int line = Line(next.Start), column = Column(next.Start);
        ConfigNode node;
        switch (next)
        {
            case AnchorAlias alias:
                return anchors.TryGetValue(alias.Value.Value, out var target)
                    ? target
                    : throw new AnchorNotFoundException(alias.Start, alias.End,
                        $"alias '*{alias.Value.Value}' refers to no anchor; define '&{alias.Value.Value}' on a node before it");

            case Scalar scalar:
                node = new ScalarNode(scalar.Value, scalar.Style == ScalarStyle.Plain, line, column);
                break;

            case SequenceStart:
                var items = new List<ConfigNode>();
                while (!parser.TryConsume<SequenceEnd>(out _))
                {
                    items.Add(ReadNode(parser, anchors));
                }
                node = new SequenceNode(items, line, column);
                break;

            case MappingStart:
                var entries = new List<MappingEntry>();
                while (!parser.TryConsume<MappingEnd>(out _))
                {
                    var key = ReadNode(parser, anchors);
                    entries.Add(new MappingEntry(key, ReadNode(parser, anchors)));
                }
                // A flow pair ('[a: b]', as an unquoted [::1]:9002 in a flow list reads) is a mapping
                // whose start YamlDotNet leaves at the start of the file; it starts at its key.
                if (!isRoot && next.Start.Index == 0 && entries.Count > 0)
                {
                    (line, column) = (entries[0].Key.Line, entries[0].Key.Column);
                }
                node = new MappingNode(entries, line, column);
                break;

            default:
                // The parser only emits document and stream events between nodes, never in place of one.
                throw new YamlException(next.Start, next.End, $"unexpected {next.GetType().Name} where a value was expected");
        }

        if (next is NodeEvent { Anchor.IsEmpty: false } anchored)
        {
            anchors[anchored.Anchor.Value] = node;
        }
        return node;
    }

    private static int Line(Mark mark) => checked((int)mark.Line);

    private static int Column(Mark mark) => checked((int)mark.Column);
}

using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Mesh.Config.Syntax;

/// <summary>Turns YAML text into a <see cref="ConfigNode"/> tree, with positions, from YamlDotNet's event stream.</summary>
internal sealed class ConfigNodeReader
{
    /// <summary>
    /// How deep collections may nest. The config's deepest key is under ten levels down; far deeper
    /// nesting is a mistake or an attack, and reading it on would exhaust the stack and end the agent.
    /// </summary>
    public const int MaxDepth = 64;

    /// <summary>
    /// How many values aliases may repeat in all, counting those inside the aliased nodes. Aliases
    /// share nodes, but binding visits every repeat, so a few lines of nested aliases (a "billion
    /// laughs" document) would otherwise bind billions of values; sharing a retry policy between
    /// rules repeats a handful each.
    /// </summary>
    public const int MaxAliasedValues = 100_000;

    /// <summary>
    /// The root node of the file's one document, or null when the file has none (empty or only
    /// comments). Malformed YAML throws <see cref="YamlException"/>, whose mark is the error position.
    /// A document past <see cref="MaxDepth"/> or <see cref="MaxAliasedValues"/> is reported in
    /// <paramref name="errors"/> and read as null, since what was read of it is cut short.
    /// </summary>
    public ConfigNode? Read(string yamlText, ConfigErrorList errors)
    {
        var parser = new Parser(new StringReader(yamlText));
        var document = new DocumentState();

        parser.Consume<StreamStart>();
        if (!parser.TryConsume<DocumentStart>(out _))
        {
            return null;
        }
        ConfigNode root;
        try
        {
            root = ReadNode(parser, document, depth: 1, isRoot: true);
        }
        catch (LimitExceededException ex)
        {
            errors.Add(Line(ex.Start), Column(ex.Start), ex.Message);
            return null;
        }
        parser.Consume<DocumentEnd>();

        if (parser.TryConsume<DocumentStart>(out var second))
        {
            errors.Add(Line(second.Start), Column(second.Start),
                "a second YAML document starts here, but the config is one document; remove this '---' and merge what follows into the first document");
        }
        return root;
    }

    private static ConfigNode ReadNode(IParser parser, DocumentState document, int depth, bool isRoot = false)
    {
        var next = parser.Consume<ParsingEvent>();
        int line = Line(next.Start), column = Column(next.Start);
        var valuesBefore = document.Values;
        document.Values++;
        ConfigNode node;
        switch (next)
        {
            case AnchorAlias alias:
                if (!document.Anchors.TryGetValue(alias.Value.Value, out var target))
                {
                    throw new AnchorNotFoundException(alias.Start, alias.End,
                        $"alias '*{alias.Value.Value}' refers to no anchor; define '&{alias.Value.Value}' on a node before it");
                }
                document.Values += target.Values - 1;
                document.AliasedValues += target.Values;
                if (document.AliasedValues > MaxAliasedValues)
                {
                    throw new LimitExceededException(alias.Start,
                        $"the aliases up to '*{alias.Value.Value}' repeat more than {MaxAliasedValues} values, as a 'billion laughs' document does "
                        + "to exhaust memory; write the repeated values out, or alias fewer of them");
                }
                return target.Node;

            case SequenceStart or MappingStart when depth > MaxDepth:
                throw new LimitExceededException(next.Start,
                    $"the values are nested more than {MaxDepth} levels deep here, far deeper than any key of the config; "
                    + "check the indentation and the brackets, and quote values that start with '[' or '{'");

            case Scalar scalar:
                node = new ScalarNode(scalar.Value, scalar.Style == ScalarStyle.Plain, line, column);
                break;

            case SequenceStart:
                var items = new List<ConfigNode>();
                while (!parser.TryConsume<SequenceEnd>(out _))
                {
                    items.Add(ReadNode(parser, document, depth + 1));
                }
                node = new SequenceNode(items, line, column);
                break;

            case MappingStart:
                var entries = new List<MappingEntry>();
                while (!parser.TryConsume<MappingEnd>(out _))
                {
                    var key = ReadNode(parser, document, depth + 1);
                    entries.Add(new MappingEntry(key, ReadNode(parser, document, depth + 1)));
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
            document.Anchors[anchored.Anchor.Value] = (node, document.Values - valuesBefore);
        }
        return node;
    }

    private static int Line(Mark mark) => checked((int)mark.Line);

    private static int Column(Mark mark) => checked((int)mark.Column);

    /// <summary>What is known while one document is read.</summary>
    private sealed class DocumentState
    {
        /// <summary>Each anchor's node, and how many values it holds counting those its own aliases repeat.</summary>
        public Dictionary<string, (ConfigNode Node, long Values)> Anchors { get; } = new(StringComparer.Ordinal);

        /// <summary>The values read so far, each alias counting as the values it repeats.</summary>
        public long Values { get; set; }

        /// <summary>The values repeated by aliases so far, which <see cref="MaxAliasedValues"/> bounds.</summary>
        public long AliasedValues { get; set; }
    }

    /// <summary>A document past a limit; reading it stops there.</summary>
    private sealed class LimitExceededException(Mark start, string message) : Exception(message)
    {
        public Mark Start { get; } = start;
    }
}

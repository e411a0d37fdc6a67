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
    /// comments). Malformed YAML throws <see cref="YamlException"/>, whose mark is the error position,
    /// also where YamlDotNet fails with an exception of another type. A document past <see cref="MaxDepth"/> or <see cref="MaxAliasedValues"/> is reported in
    /// <paramref name="errors"/> and read as null, since what was read of it is cut short.
    /// </summary>
    public ConfigNode? Read(string yamlText, ConfigErrorList errors)
    {
        var scanner = new Scanner(new StringReader(yamlText));
        var document = new DocumentState();
        try
        {
            return Read(new Parser(scanner), document, yamlText, errors);
        }
        catch (YamlException ex) when (document.OpenFlows.TryPeek(out var open) && ex.Message.Contains("did not find expected ','", StringComparison.Ordinal))
        {
            // YamlDotNet says where the text ended or the next key began, not which bracket was left open.
            throw new SemanticErrorException(ex.Start, ex.End, $"{ex.Message.TrimEnd('.')}: {NotClosedBefore(open)}");
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or FormatException or OverflowException)
        {
            // YamlDotNet's scanner throws these, without a position, on some malformed text: a plain value
            // in a flow list broken by U+0085, an escape of half a surrogate pair ("\uD800"). It stopped
            // where the scanner is, which is past the end of the text when an escape is cut off there.
            var past = Math.Max(0, scanner.CurrentPosition.Index - yamlText.Length);
            var at = new Mark(scanner.CurrentPosition.Index - past, scanner.CurrentPosition.Line, Math.Max(1, scanner.CurrentPosition.Column - past));
            var unclosed = document.OpenFlows.TryPeek(out var open) ? $"; {NotClosedBefore(open)}" : "";
            throw new SemanticErrorException(at, at, "cannot read past here; look for a character YAML does not allow, "
                + "such as an escape of half a surrogate pair (\\uD800) or a U+0085 or U+2028 line break in an unquoted value, and remove it or quote the value"
                + unclosed);
        }
    }

    private static ConfigNode? Read(IParser parser, DocumentState document, string yamlText, ConfigErrorList errors)
    {
        if (!StartsDocument(parser, yamlText))
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

    /// <summary>Whether the stream has a document, consuming the stream's start and the document's.</summary>
    private static bool StartsDocument(IParser parser, string yamlText)
    {
        try
        {
            parser.Consume<StreamStart>();
            return parser.TryConsume<DocumentStart>(out _);
        }
        catch (InvalidOperationException) when (LeadingDocumentEnd(yamlText) is { } at)
        {
            throw new SemanticErrorException(at, at, "'...' ends a document here, before the config's document has started; remove this line");
        }
    }

    /// <summary>
    /// Where a '...' (document end) stands before any document, which YamlDotNet's parser throws on
    /// without a position: it takes the stream to be over, then finds more in it. Null for none.
    /// </summary>
    private static Mark? LeadingDocumentEnd(string yamlText)
    {
        var scanner = new Scanner(new StringReader(yamlText));
        // The stream's start, then the marker: comments are skipped, and directives come before a '---'.
        for (var token = 0; token < 2 && scanner.MoveNext(); token++)
        {
            if (scanner.Current is YamlDotNet.Core.Tokens.DocumentEnd end)
            {
                return end.Start;
            }
        }
        return null;
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

            case SequenceStart sequence:
                var items = new List<ConfigNode>();
                document.EnterFlow(sequence.Style == SequenceStyle.Flow, '[', sequence.Start);
                while (!parser.TryConsume<SequenceEnd>(out _))
                {
                    items.Add(ReadNode(parser, document, depth + 1));
                }
                document.LeaveFlow(sequence.Style == SequenceStyle.Flow);
                node = new SequenceNode(items, line, column);
                break;

            case MappingStart mapping:
                var entries = new List<MappingEntry>();
                document.EnterFlow(mapping.Style == MappingStyle.Flow, '{', mapping.Start);
                while (!parser.TryConsume<MappingEnd>(out _))
                {
                    var key = ReadNode(parser, document, depth + 1);
                    entries.Add(new MappingEntry(key, ReadNode(parser, document, depth + 1)));
                }
                document.LeaveFlow(mapping.Style == MappingStyle.Flow);
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

    private static string NotClosedBefore((char Bracket, Mark Opened) open) =>
        $"the '{open.Bracket}' opened at {Line(open.Opened)}:{Column(open.Opened)} is not closed before here";

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

        /// <summary>The '[' and '{' read but not yet closed, innermost on top.</summary>
        public Stack<(char Bracket, Mark Opened)> OpenFlows { get; } = new();

        public void EnterFlow(bool isFlow, char bracket, Mark opened)
        {
            if (isFlow)
            {
                OpenFlows.Push((bracket, opened));
            }
        }

        public void LeaveFlow(bool isFlow)
        {
            if (isFlow)
            {
                OpenFlows.Pop();
            }
        }
    }

    /// <summary>A document past a limit; reading it stops there.</summary>
    private sealed class LimitExceededException(Mark start, string message) : Exception(message)
    {
        public Mark Start { get; } = start;
    }
}

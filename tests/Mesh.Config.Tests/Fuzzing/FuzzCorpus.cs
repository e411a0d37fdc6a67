using Mesh.Testing;
namespace Mesh.Config.Tests.Fuzzing;

/// <summary>One fuzzed document: its place in the run, what kind it is and how exactly it was made, and its text.</summary>
internal sealed record FuzzDocument(int Index, string Kind, string Origin, string Text);

/// <summary>
/// The documents of a fuzz run, each a pure function of the seed and its index: generated from
/// the schema, generated and then damaged, a checked-in config file damaged, or built to attack.
/// </summary>
internal sealed class FuzzCorpus
{
    private readonly ulong _seed;
    private readonly IReadOnlyList<(string Name, string Text)> _files;

    public FuzzCorpus(ulong seed)
    {
        _seed = seed;
        _files = [.. RepositoryFiles.Files("config/examples", "*.yaml").Append(RepositoryFiles.FullPath("config/mesh.yaml"))
            .Select(path => (Path.GetFileName(path), File.ReadAllText(path)))];
    }

    /// <summary>The checked-in files that mutations start from.</summary>
    public IReadOnlyList<(string Name, string Text)> Files => _files;

    public FuzzDocument Document(int index)
    {
        var random = new FuzzRandom(_seed, (uint)index);
        var roll = random.Int(100);
        if (roll < 40)
        {
            var (text, origin) = SchemaDocuments.Create(random);
            return new FuzzDocument(index, "generated", origin, text);
        }
        if (roll < 50)
        {
            var (text, origin) = SchemaDocuments.Create(random);
            var (mutated, applied) = YamlMutations.Mutate(text, random);
            return new FuzzDocument(index, "generated then mutated", $"{origin}, then mutated: {applied}", mutated);
        }
        if (roll < 96)
        {
            var (name, text) = random.Pick(_files);
            var (mutated, applied) = YamlMutations.Mutate(text, random);
            return new FuzzDocument(index, "checked-in file mutated", $"{name} mutated: {applied}", mutated);
        }
        return Hostile(index, random);
    }

    /// <summary>Document <paramref name="index"/> of a run that damages <paramref name="text"/>, such as the config a watcher has in effect.</summary>
    public FuzzDocument Mutation(int index, string text)
    {
        var random = new FuzzRandom(_seed, (uint)index);
        var (mutated, applied) = YamlMutations.Mutate(text, random);
        return new FuzzDocument(index, "config in effect mutated", $"the config in effect mutated: {applied}", mutated);
    }

    private static FuzzDocument Hostile(int index, FuzzRandom random)
    {
        switch (random.Int(6))
        {
            case 0:
                var (levels, width) = (random.Int(2, 12), random.Int(2, 12));
                var key = random.Pick(["lol", "services", "l4", "agent", "telemetry"]);
                return new FuzzDocument(index, "billion laughs", $"billion laughs, {levels} levels of {width} aliases under '{key}'", HostileYaml.Laughs(levels, width, key));
            case 1:
                var schemaWidth = random.Int(2, 60);
                var regex = random.Chance(0.3);
                return new FuzzDocument(index, "alias bomb", $"alias bomb through services, rules and matches, width {schemaWidth}{(regex ? ", regex paths" : "")}",
                    regex ? HostileYaml.SchemaBomb(schemaWidth, "/a/[a-z]+", "RegularExpression") : HostileYaml.SchemaBomb(schemaWidth));
            case 2:
                var keys = random.Int(2, 60);
                return new FuzzDocument(index, "alias keys", $"aliases as keys and merge keys, width {keys}", HostileYaml.KeyBomb(keys));
            case 3:
                var style = random.Pick(Enum.GetValues<DeepStyle>());
                var depth = style is DeepStyle.BlockMappings or DeepStyle.BlockLists ? random.Int(10, 500) : random.Int(10, 50_000);
                return new FuzzDocument(index, "deep nesting", $"nested {depth} deep, {style}", HostileYaml.Deep(depth, style));
            case 4:
                var length = random.Int(64, 50_000);
                return new FuzzDocument(index, "long names", $"service names {length} characters long", HostileYaml.LongNames(length));
            default:
                var count = random.Int(10, 12_000);
                return new FuzzDocument(index, "aliased regex", $"a slow regular expression aliased {count} times", HostileYaml.RegexAliases(count));
        }
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Text;
using Xunit.Abstractions;

namespace Mesh.Config.Tests.Fuzzing;

/// <summary>
/// Hostile input, in bulk: ten thousand generated and damaged documents through the loader, each
/// of which must come back, soon and within bounded memory, as a config or as clear errors.
/// </summary>
[Collection(FuzzingCollection.Name)]
public sealed class LoaderFuzzTests(ITestOutputHelper output)
{
    /// <summary>How many documents a run parses; MESH_FUZZ_DOCUMENTS asks for more (or fewer, to try a change quickly).</summary>
    private const int DefaultDocuments = 10_000;

    [Fact]
    public void Parse_GeneratedAndMutatedDocuments_ReturnsConfigOrClearErrorsInBoundedTimeAndMemory()
    {
        var documents = DocumentCount();
        var corpus = new FuzzCorpus(FuzzSeed.Value);
        var loader = new MeshConfigLoader();
        output.WriteLine($"Fuzzing {documents} documents with {FuzzSeed.Describe()}; mutations start from {corpus.Files.Count} checked-in files");

        var run = Stopwatch.StartNew();
        int valid = 0, rejected = 0;
        var byKind = new Dictionary<string, (int Documents, int Valid)>();
        (TimeSpan Elapsed, FuzzDocument? Document) slowest = (TimeSpan.Zero, null);
        (long Bytes, FuzzDocument? Document) largest = (0, null);
        for (var i = 0; i < documents; i++)
        {
            var document = corpus.Document(i);
            var outcome = LoaderProperties.Check(loader, document.Text, checkDeterminism: i % 16 == 0);
            if (outcome.Violation?.StartsWith("hang:", StringComparison.Ordinal) == true)
            {
                // A machine that stalled (a long GC, a busy CI host) passes on a second try; a hang does not.
                outcome = LoaderProperties.Check(loader, document.Text);
            }
            if (outcome.Violation is not null)
            {
                Assert.Fail(Report(document, outcome.Violation, loader));
            }
            if (outcome.Result!.IsValid)
            {
                valid++;
            }
            else
            {
                rejected++;
            }
            var (ofKind, validOfKind) = byKind.GetValueOrDefault(document.Kind);
            byKind[document.Kind] = (ofKind + 1, validOfKind + (outcome.Result.IsValid ? 1 : 0));
            if (outcome.Elapsed > slowest.Elapsed)
            {
                slowest = (outcome.Elapsed, document);
            }
            if (outcome.AllocatedBytes > largest.Bytes)
            {
                largest = (outcome.AllocatedBytes, document);
            }
        }
        run.Stop();

        output.WriteLine($"Parsed {documents} documents in {run.Elapsed.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture)} s: "
            + $"{valid} valid, {rejected} rejected, every rejection with clear errors");
        output.WriteLine($"By kind: {string.Join(", ", byKind.OrderByDescending(k => k.Value.Documents).Select(k => $"{k.Key} {k.Value.Documents} ({k.Value.Valid} valid)"))}");
        output.WriteLine($"Slowest: {slowest.Elapsed.TotalMilliseconds.ToString("F0", CultureInfo.InvariantCulture)} ms, document {slowest.Document?.Index} "
            + $"of {slowest.Document?.Text.Length} characters ({slowest.Document?.Origin})");
        output.WriteLine($"Most allocated: {(largest.Bytes / (1024.0 * 1024)).ToString("F1", CultureInfo.InvariantCulture)} MiB, document {largest.Document?.Index} ({largest.Document?.Origin})");
        Assert.True(valid > 0, "no generated document was valid, so the generator only tests rejections");
        Assert.True(rejected > 0, "no document was rejected, so the mutations damage nothing");
    }

    /// <summary>
    /// What failed, on which document and how to get it back: the seed and index, how the
    /// document was made, a smaller document that fails the same way, and the whole one, also
    /// saved to a file.
    /// </summary>
    private string Report(FuzzDocument document, string violation, MeshConfigLoader loader)
    {
        var kind = violation[..violation.IndexOf(':', StringComparison.Ordinal)];
        var shrunk = LoaderProperties.Shrink(document.Text,
            text => LoaderProperties.Check(loader, text).Violation?.StartsWith(kind + ":", StringComparison.Ordinal) == true,
            TimeSpan.FromSeconds(kind == "hang" ? 30 : 10));
        var saved = Path.Combine(Path.GetTempPath(), $"mesh-fuzz-{FuzzSeed.Value}-{document.Index}.yaml");
        File.WriteAllBytes(saved, Encoding.UTF8.GetBytes(document.Text));
        var report = $"""
            Document {document.Index} of the run with {FuzzSeed.Describe()} broke a property.
            {violation}
            Made as: {document.Origin}
            Smallest document found that fails the same way ({shrunk.Length} characters):
            {LoaderProperties.Literal(shrunk)}
            The whole document ({document.Text.Length} characters, saved to {saved}):
            {LoaderProperties.Literal(document.Text)}
            """;
        output.WriteLine(report);
        return report;
    }

    private static int DocumentCount()
    {
        var text = Environment.GetEnvironmentVariable("MESH_FUZZ_DOCUMENTS");
        return string.IsNullOrWhiteSpace(text) ? DefaultDocuments : int.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture);
    }
}

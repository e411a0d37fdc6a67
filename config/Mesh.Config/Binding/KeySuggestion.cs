namespace Mesh.Config.Binding;

/// <summary>Finds the known key an unknown one was probably meant to be.</summary>
internal static class KeySuggestion
{
    /// <summary>
    /// The longest name worth suggesting: keys and words are short, and service names are DNS
    /// labels. A longer one is no valid name to suggest, and the distance table grows with the
    /// product of the two lengths, which text in a file can make as large as it likes.
    /// </summary>
    private const int MaxLength = 63;

    /// <summary>
    /// The closest known key, if it is close enough to be a typo: at most one edit per three
    /// letters of the known key (at least one), where swapping two neighbours counts as one edit
    /// and case differences are free (keys are case-sensitive, so 'Splice' is a typo of 'splice').
    /// </summary>
    public static string? Closest(string unknown, IEnumerable<string> known)
    {
        var lowered = unknown.ToLowerInvariant();
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in known)
        {
            // The distance is at least the difference in length, so most pairs need no table.
            var allowed = Math.Max(1, candidate.Length / 3);
            if (candidate.Length > MaxLength || Math.Abs(unknown.Length - candidate.Length) > allowed)
            {
                continue;
            }
            var distance = Distance(lowered, candidate.ToLowerInvariant());
            if (distance <= allowed && distance < bestDistance)
            {
                best = candidate;
                bestDistance = distance;
            }
        }
        return best;
    }

    /// <summary>Optimal string alignment distance: Levenshtein plus adjacent transpositions.</summary>
    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }
        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }
        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }
        return d[a.Length, b.Length];
    }
}

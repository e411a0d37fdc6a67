namespace Mesh.Config;

/// <summary>
/// One mistake in a config file, at the line and column (both 1-based) of the node that is wrong.
/// Line and column are 0 when the error is about the file as a whole, such as a missing file.
/// </summary>
public sealed record ConfigError(string File, int Line, int Column, string Message)
{
    /// <summary>The compiler-style <c>file:line:column: message</c> that editors and terminals turn into links.</summary>
    public override string ToString() => $"{File}:{Line}:{Column}: {Message}";
}

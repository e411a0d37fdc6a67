using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mesh.Proxy.Isolation;

/// <summary>
/// The JSON both ends of the pipe between the agent and the proxy's process write: one message per line. The runtime
/// model's records serialize as they are; addresses and networks as their usual text ("10.0.0.1:80", "10.0.0.0/8"),
/// for which System.Text.Json has no converter of its own.
/// </summary>
public static class ProxyWireFormat
{
    /// <summary>Shared and read-only: System.Text.Json caches each type's contract on it.</summary>
    public static JsonSerializerOptions Options { get; } = Create();

    /// <summary>One message as one line of JSON (no newline inside: strings escape theirs).</summary>
    public static string Write<T>(T message) => JsonSerializer.Serialize(message, Options);

    /// <summary>A message from one line; throws <see cref="JsonException"/> when the line is not one.</summary>
    public static T Read<T>(string line) =>
        JsonSerializer.Deserialize<T>(line, Options) ?? throw new JsonException($"expected a {typeof(T).Name}, got null");

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.General)
        {
            Converters = { new JsonStringEnumConverter(), new TextConverter<IPEndPoint>(IPEndPoint.Parse), new TextConverter<IPNetwork>(IPNetwork.Parse) },
            RespectNullableAnnotations = true,
        };
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }

    /// <summary>A value written as its ToString() and read back with its Parse.</summary>
    private sealed class TextConverter<T>(Func<string, T> parse) : JsonConverter<T>
    {
        public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            var text = reader.GetString() ?? throw new JsonException($"expected a {typeof(T).Name} as a string");
            try
            {
                return parse(text);
            }
            catch (FormatException error)
            {
                throw new JsonException($"'{text}' is not a {typeof(T).Name}: {error.Message}");
            }
        }

        public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) => writer.WriteStringValue(value!.ToString());
    }
}

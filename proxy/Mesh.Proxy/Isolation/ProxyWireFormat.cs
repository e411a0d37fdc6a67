using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Mesh.Config;

namespace Mesh.Proxy.Isolation;

/// <summary>
/// The JSON both ends of the pipe between the agent and the proxy's process write: one message per line. The config's
/// records serialize as they are; addresses and networks as their usual text ("10.0.0.1:80", "10.0.0.0/8") and
/// <see cref="ValueList{T}"/>s as arrays, for which System.Text.Json has no converter of its own. Computed properties
/// (such as <see cref="ServiceConfig.EndPoint"/>) are left out: the reader computes them again.
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
            Converters =
            {
                new JsonStringEnumConverter(),
                new TextConverter<IPAddress>(IPAddress.Parse),
                new TextConverter<IPEndPoint>(IPEndPoint.Parse),
                new TextConverter<IPNetwork>(IPNetwork.Parse),
                new ValueListConverterFactory(),
            },
            RespectNullableAnnotations = true,
            IgnoreReadOnlyProperties = true,
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

    /// <summary>A <see cref="ValueList{T}"/> as a JSON array.</summary>
    private sealed class ValueListConverterFactory : JsonConverterFactory
    {
        public override bool CanConvert(Type typeToConvert) =>
            typeToConvert.IsGenericType && typeToConvert.GetGenericTypeDefinition() == typeof(ValueList<>);

        public override JsonConverter CreateConverter(Type typeToConvert, JsonSerializerOptions options) =>
            (JsonConverter)Activator.CreateInstance(typeof(ValueListConverter<>).MakeGenericType(typeToConvert.GetGenericArguments()[0]))!;
    }

    private sealed class ValueListConverter<T> : JsonConverter<ValueList<T>>
    {
        public override ValueList<T> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            ValueList.From(JsonSerializer.Deserialize<T[]>(ref reader, options) ?? throw new JsonException("expected an array, got null"));

        public override void Write(Utf8JsonWriter writer, ValueList<T> value, JsonSerializerOptions options) =>
            JsonSerializer.Serialize(writer, value.ToArray(), options);
    }
}

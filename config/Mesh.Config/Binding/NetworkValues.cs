using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>
/// Reads IP literals, endpoints and CIDRs strictly: .NET's parsers also take forms such as
/// '10.1' or '010.0.0.1' (read as octal), which would not mean what the writer meant.
/// </summary>
internal static partial class NetworkValues
{
    /// <summary>An IPv4 or IPv6 literal that clients can dial: not a host name, not 0.0.0.0 or ::, without a zone.</summary>
    public static IPAddress? ReadAddress(ConfigNode node, string path, ConfigErrorList errors)
    {
        if (ScalarValues.ReadScalar(node, path, "an IPv4 or IPv6 address", "127.0.0.10", errors) is not { } scalar)
        {
            return null;
        }
        if (scalar.IsNull || string.IsNullOrWhiteSpace(scalar.Value))
        {
            errors.Add(scalar, $"'{path}' has no value; write an IPv4 or IPv6 address, such as 127.0.0.10 or fd00::10");
            return null;
        }
        if (ParseAddress(scalar.Value, out var problem) is not { } address)
        {
            errors.Add(scalar, $"'{path}' is '{scalar.Value}', {problem}");
            return null;
        }
        return address;
    }

    /// <summary>An address and port: 127.0.0.1:9001, or [::1]:9002 for IPv6.</summary>
    public static IPEndPoint? ReadEndpoint(ConfigNode node, string path, ConfigErrorList errors)
    {
        const string Quote = "; write address:port, such as 127.0.0.1:9001, and quote IPv6 ones with brackets: \"[::1]:9002\"";
        if (node is not ScalarNode scalar)
        {
            // An unquoted [::1]:9002 reads as YAML flow syntax, not as text.
            errors.Add(node, $"'{path}' expects an endpoint, but found {node.Description}{Quote}");
            return null;
        }
        var text = scalar.Value;
        if (scalar.IsNull || string.IsNullOrWhiteSpace(text))
        {
            errors.Add(scalar, $"'{path}' has no value{Quote}");
            return null;
        }

        string host, portText;
        if (text.StartsWith('['))
        {
            var close = text.IndexOf("]:", StringComparison.Ordinal);
            if (close < 0)
            {
                errors.Add(scalar, $"'{path}' is '{text}', which has no port after the ']'; write it as \"[::1]:9002\"");
                return null;
            }
            host = text[1..close];
            portText = text[(close + 2)..];
        }
        else
        {
            var colon = text.LastIndexOf(':');
            if (colon < 0)
            {
                errors.Add(scalar, $"'{path}' is '{text}', which has no port; write address:port, such as {text}:8080");
                return null;
            }
            host = text[..colon];
            portText = text[(colon + 1)..];
            if (host.Contains(':'))
            {
                var bracketed = IPAddress.TryParse(host, out _) ? $"\"[{host}]:{portText}\"" : "\"[::1]:9002\"";
                errors.Add(scalar, $"'{path}' is '{text}', where the port cannot be told from the IPv6 address; write the address in brackets, quoted: {bracketed}");
                return null;
            }
        }
        if (ParseAddress(host, out var problem) is not { } address)
        {
            errors.Add(scalar, $"'{path}' has the address '{host}', {problem}");
            return null;
        }
        if (!PortPattern().IsMatch(portText) || !int.TryParse(portText, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            errors.Add(scalar, $"'{path}' has the port '{portText}', but a port is a number from 1 to 65535; write address:port, such as 127.0.0.1:9001");
            return null;
        }
        return new IPEndPoint(address, port);
    }

    /// <summary>A CIDR such as 10.0.0.0/8; a bare address means that one address (/32 or /128).</summary>
    public static IPNetwork? ReadCidr(ConfigNode node, string path, ConfigErrorList errors)
    {
        if (ScalarValues.ReadScalar(node, path, "a CIDR", "127.0.0.0/8", errors) is not { } scalar)
        {
            return null;
        }
        var text = scalar.Value;
        if (scalar.IsNull || string.IsNullOrWhiteSpace(text))
        {
            errors.Add(scalar, $"'{path}' has no value; write a CIDR such as 127.0.0.0/8 or fd00::/64");
            return null;
        }
        var slash = text.IndexOf('/');
        var host = slash < 0 ? text : text[..slash];
        if (ParseAddress(host, out var problem, allowUnspecified: true) is not { } address)
        {
            errors.Add(scalar, $"'{path}' has the address '{host}', {problem}");
            return null;
        }
        var maxLength = address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        var prefixText = slash < 0 ? maxLength.ToString(CultureInfo.InvariantCulture) : text[(slash + 1)..];
        if (!PortPattern().IsMatch(prefixText) || !int.TryParse(prefixText, CultureInfo.InvariantCulture, out var prefix) || prefix > maxLength)
        {
            errors.Add(scalar, $"'{path}' is '{text}', whose prefix length is not a number from 0 to {maxLength}; write a CIDR such as {host}/{maxLength}");
            return null;
        }
        var network = new IPNetwork(Masked(address, prefix), prefix);
        if (!network.BaseAddress.Equals(address))
        {
            errors.Add(scalar, $"'{path}' is '{text}', which has bits set after the prefix length; write {network}");
            return null;
        }
        return network;
    }

    /// <summary>A port from 1 to 65535, or a range of them written <c>8000-8080</c> (both ends included).</summary>
    public static PortRange? ReadPortRange(ConfigNode node, string path, ConfigErrorList errors)
    {
        const string Fix = "write a port from 1 to 65535, such as 443, or a range such as 8000-8080";
        if (ScalarValues.ReadScalar(node, path, "a port or a port range", "8000-8080", errors) is not { } scalar)
        {
            return null;
        }
        var text = scalar.Value;
        if (scalar.IsNull || string.IsNullOrWhiteSpace(text))
        {
            errors.Add(scalar, $"'{path}' has no value; {Fix}, or remove the key for every port");
            return null;
        }
        var match = PortRangePattern().Match(text);
        if (!match.Success)
        {
            errors.Add(scalar, $"'{path}' is '{text}', which is not a port or a port range; {Fix}");
            return null;
        }
        var first = int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        var last = match.Groups[2].Success ? int.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture) : first;
        if (first is < 1 or > 65535 || last is < 1 or > 65535)
        {
            errors.Add(scalar, $"'{path}' is {text}, but a port must be from 1 to 65535; write one such as 443, or a range such as 8000-8080");
            return null;
        }
        if (first > last)
        {
            errors.Add(scalar, $"'{path}' is '{text}', whose first port is above its last; write the lower port first: {last}-{first}");
            return null;
        }
        return new PortRange((ushort)first, (ushort)last);
    }

    /// <summary>
    /// A Linux network interface name as the kernel accepts one: 1 to 15 characters, without '/',
    /// ':' or whitespace, and neither '.' nor '..'.
    /// </summary>
    public static string? ReadInterfaceName(ConfigNode node, string path, ConfigErrorList errors)
    {
        if (ScalarValues.ReadText(node, path, "an interface name", "eth0", errors) is not { } name)
        {
            return null;
        }
        if (name.Length > 15 || name is "." or ".." || name.Any(c => c is '/' or ':' || char.IsWhiteSpace(c)))
        {
            errors.Add(node, $"'{path}' is '{name}', which is not a Linux interface name: use 1 to 15 characters without '/', ':' or spaces, "
                + "as 'ip link' shows them, such as eth0");
            return null;
        }
        return name;
    }

    /// <summary>
    /// The address clients would reach: an IPv4-mapped IPv6 address is the IPv4 one, so that
    /// ::ffff:127.0.0.10 and 127.0.0.10 count as the same when looking for duplicates.
    /// </summary>
    public static IPEndPoint Normalized(IPEndPoint endpoint) =>
        endpoint.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(endpoint.Address.MapToIPv4(), endpoint.Port) : endpoint;

    /// <returns>The address, or null with <paramref name="problem"/> saying why and what to write, to follow "'x' is 'y', ".</returns>
    private static IPAddress? ParseAddress(string text, out string problem, bool allowUnspecified = false)
    {
        IPAddress? address = null;
        if (text.Contains(':'))
        {
            if (text.Contains('%'))
            {
                problem = "which has a zone ('%...'); write the address without it";
                return null;
            }
            IPAddress.TryParse(text.Trim('[', ']'), out address);
        }
        else if (Ipv4Pattern().IsMatch(text))
        {
            IPAddress.TryParse(text, out address);
        }
        if (address is null)
        {
            problem = LooksLikeHostName(text)
                ? "which is a name, not an IP address: Mesh finds a service by the address clients connect to; write that address, such as 127.0.0.10"
                : "which is not an IPv4 or IPv6 address; write four numbers 0..255 joined by dots, such as 127.0.0.10, or an IPv6 address such as fd00::10";
            return null;
        }
        if (!allowUnspecified && (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any)))
        {
            problem = "which means 'any address' and cannot be dialled; write a specific address, such as 127.0.0.10";
            return null;
        }
        problem = "";
        return address;
    }

    private static bool LooksLikeHostName(string text) => text.Any(char.IsLetter) && !text.Contains(':');

    private static IPAddress Masked(IPAddress address, int prefix)
    {
        var bytes = address.GetAddressBytes();
        for (var i = 0; i < bytes.Length; i++)
        {
            var keep = Math.Clamp(prefix - (i * 8), 0, 8);
            bytes[i] &= (byte)(0xFF << (8 - keep));
        }
        return new IPAddress(bytes);
    }

    // Octets without leading zeros, which .NET would read as octal.
    [GeneratedRegex(@"^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$")]
    private static partial Regex Ipv4Pattern();

    [GeneratedRegex(@"^[0-9]{1,5}$")]
    private static partial Regex PortPattern();

    [GeneratedRegex(@"^([0-9]{1,5})(?:-([0-9]{1,5}))?$")]
    private static partial Regex PortRangePattern();
}

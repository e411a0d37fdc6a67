using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Mesh.Cli.Commands;

/// <summary>The log of the agent and of the node proxy's process: one line per message, without per-request chatter.</summary>
internal static class AgentLogging
{
    /// <param name="logging">The builder to configure.</param>
    /// <param name="verbose">Trace level, and the per-request lines of ASP.NET Core and YARP.</param>
    /// <param name="allToStandardError">Every line to stderr: the node proxy's stdout carries its answers to the agent.</param>
    public static void Configure(ILoggingBuilder logging, bool verbose, bool allToStandardError = false)
    {
        logging.SetMinimumLevel(verbose ? LogLevel.Trace : LogLevel.Information);
        logging.AddSimpleConsole(console => console.SingleLine = true);
        if (allToStandardError)
        {
            logging.Services.Configure<ConsoleLoggerOptions>(console => console.LogToStandardErrorThreshold = LogLevel.Trace);
        }
        // A failed start is reported once, as a one-line error, not also as the host's stack trace.
        logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);
        logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        // YARP brings data protection (for session-affinity cookies), whose key ring, loaded at start, warns three times
        // that an agent user without a home directory keeps its keys in memory. Mesh routes have no session affinity,
        // so nothing is ever protected with them; its errors still show.
        logging.AddFilter("Microsoft.AspNetCore.DataProtection", LogLevel.Error);
        // The node proxy serves every request of the node: per-request lines of ASP.NET Core and YARP
        // (about six each) would cost more than the forwarding itself. --verbose brings them back.
        if (!verbose)
        {
            logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
            // Hosting starts an Activity for every request whenever this category logs at any level (for log scopes),
            // and HttpClient then starts a child and writes a traceparent upstream: two activities per request that
            // nothing reads. It only logs request start and finish; tracing, when configured, has its own listener.
            logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
            logging.AddFilter("Yarp", LogLevel.Warning);
        }
    }
}

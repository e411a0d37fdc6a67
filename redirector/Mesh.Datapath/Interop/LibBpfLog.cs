using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Mesh.Datapath.Interop;

/// <summary>
/// Routes libbpf's messages (including the verifier log of a program that fails to load) into
/// the agent's logger and keeps the text of the current load, so a failure can be saved to a file.
/// libbpf has one process-wide print hook, and an unmanaged callback cannot capture an instance,
/// which is why the active sink is the one static field here.
/// </summary>
public sealed class LibBpfLog : IDisposable
{
    private static volatile LibBpfLog? s_active;

    private readonly ILogger _logger;
    private readonly StringBuilder _captured = new();
    private readonly Lock _lock = new();

    private LibBpfLog(ILogger logger)
    {
        _logger = logger;
    }

    /// <summary>Installs the hook; disposing the result restores libbpf's silence.</summary>
    public static unsafe LibBpfLog Install(ILogger logger)
    {
        var log = new LibBpfLog(logger);
        s_active = log;
        LibBpf.SetPrint(&Print);
        return log;
    }

    /// <summary>Everything libbpf printed since the last call, then forgets it.</summary>
    public string TakeCaptured()
    {
        lock (_lock)
        {
            var text = _captured.ToString();
            _captured.Clear();
            return text;
        }
    }

    public unsafe void Dispose()
    {
        if (s_active == this)
        {
            s_active = null;
            LibBpf.SetPrint(null);
        }
    }

    private void Append(int level, string message)
    {
        lock (_lock)
        {
            _captured.Append(message);
        }
        var logLevel = level switch
        {
            0 => LogLevel.Warning,      // LIBBPF_WARN
            1 => LogLevel.Debug,        // LIBBPF_INFO
            _ => LogLevel.Trace,        // LIBBPF_DEBUG
        };
        _logger.Log(logLevel, "libbpf: {Message}", message.TrimEnd());
    }

    [UnmanagedCallersOnly]
    private static unsafe int Print(int level, byte* format, IntPtr args)
    {
        var sink = s_active;
        if (sink is null)
        {
            return 0;
        }
        // The va_list can be formatted only once without va_copy, which P/Invoke cannot do portably,
        // so one generous buffer is used: a failing program's verifier log (level 1) fits in it.
        const int bufferSize = 1 << 20;
        var buffer = (byte*)NativeMemory.Alloc(bufferSize);
        try
        {
            var length = LibC.VsnPrintf(buffer, bufferSize, format, args);
            if (length > 0)
            {
                sink.Append(level, Encoding.UTF8.GetString(buffer, Math.Min(length, bufferSize - 1)));
            }
            return length;
        }
        finally
        {
            NativeMemory.Free(buffer);
        }
    }
}

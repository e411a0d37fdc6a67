using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Mesh.Kernel.Tests.Infrastructure;

/// <summary>TCP states as the kernel numbers them (include/net/tcp_states.h).</summary>
public enum TcpState : byte
{
    Established = 1,
    SynSent = 2,
    SynReceived = 3,
    FinWait1 = 4,
    FinWait2 = 5,
    TimeWait = 6,
    Close = 7,
    CloseWait = 8,
    LastAck = 9,
    Listen = 10,
    Closing = 11,
}

/// <summary>
/// Reads a socket's kernel state without changing it, so tests can wait for a condition
/// (bytes handed to the peer, a reset arrived) instead of sleeping for a guessed time.
/// </summary>
public static class TcpProbe
{
    private const int IpProtoTcp = 6;
    private const int TcpInfo = 11;
    private const uint SiocOutQ = 0x5411; // TIOCOUTQ: bytes in the send queue, not yet acknowledged by the peer

    /// <summary>The socket's TCP state from TCP_INFO; unlike SO_ERROR, reading it consumes nothing.</summary>
    public static TcpState State(Socket socket)
    {
        Span<byte> info = stackalloc byte[256];
        socket.GetRawSocketOption(IpProtoTcp, TcpInfo, info);
        return (TcpState)info[0];
    }

    /// <summary>Bytes still in the send queue. Spliced bytes never enter it; TCP bytes leave it once acknowledged.</summary>
    public static int UnsentBytes(Socket socket)
    {
        if (Ioctl((int)socket.Handle, SiocOutQ, out var queued) != 0)
        {
            throw new SocketException(Marshal.GetLastPInvokeError());
        }
        return queued;
    }

    /// <summary>Polls <paramref name="condition"/> every millisecond until it holds; fails the test after <paramref name="timeout"/>.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout)
            {
                Assert.Fail($"timed out after {timeout.TotalSeconds:0.#} s waiting until {what}");
            }
            await Task.Delay(1);
        }
    }

    [DllImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static extern int Ioctl(int fd, nuint request, out int value);
}

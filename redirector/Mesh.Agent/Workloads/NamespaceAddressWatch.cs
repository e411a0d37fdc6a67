using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Mesh.Agent.Workloads;

/// <summary>
/// Says when a workload's network namespace gains or loses an address: an rtnetlink socket made inside the namespace
/// (a socket stays in the namespace it was made in) and subscribed to IPv4 and IPv6 address changes. Runtimes such as
/// Docker and CNI plugins configure a workload's network after its first process joined the cgroup, so the addresses
/// read when the workload is found are often none yet. Hand-written (socket and bind of AF_NETLINK): .NET's
/// NetworkChange follows only the process's own namespace, and no maintained .NET library speaks rtnetlink.
/// </summary>
internal sealed partial class NamespaceAddressWatch : IDisposable
{
    private const int AfNetlink = 16;
    private const int SockRaw = 3;
    private const int SockCloexec = 0x80000;
    private const int NetlinkRoute = 0;
    private const uint IPv4AddressGroup = 0x10;  // RTMGRP_IPV4_IFADDR
    private const uint IPv6AddressGroup = 0x100; // RTMGRP_IPV6_IFADDR

    private readonly Socket _socket;
    private readonly CancellationTokenSource _stop = new();
    private int _changed;

    private NamespaceAddressWatch(Socket socket) => _socket = socket;

    /// <summary>Opens the watch in the calling thread's network namespace (run it through <see cref="NamespaceThread"/>).</summary>
    public static NamespaceAddressWatch OpenHere()
    {
        var fd = CreateSocket(AfNetlink, SockRaw | SockCloexec, NetlinkRoute);
        if (fd < 0)
        {
            throw new IOException($"opening an rtnetlink socket failed (errno {Marshal.GetLastPInvokeError()})");
        }
        var handle = new SafeSocketHandle(fd, ownsHandle: true);
        var address = new NetlinkAddress { Family = AfNetlink, Pad = 0, PortId = 0 /* the kernel picks one */, Groups = IPv4AddressGroup | IPv6AddressGroup };
        if (Bind(handle, address, Marshal.SizeOf<NetlinkAddress>()) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            handle.Dispose();
            throw new IOException($"subscribing to address changes failed (errno {errno})");
        }
        return new NamespaceAddressWatch(new Socket(handle));
    }

    /// <summary>Calls <paramref name="changed"/> after each address change message (on a pool thread) until disposed.</summary>
    public void Start(Action changed) => _ = ReadAsync(changed);

    /// <summary>Whether an address changed since the last call.</summary>
    public bool TakeChange() => Interlocked.Exchange(ref _changed, 0) == 1;

    public void Dispose()
    {
        _stop.Cancel();
        _socket.Dispose();
        _stop.Dispose();
    }

    private async Task ReadAsync(Action changed)
    {
        var buffer = new byte[16 * 1024];
        var stop = _stop.Token;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await _socket.ReceiveAsync(buffer, SocketFlags.None, stop);
            }
            catch (SocketException error) when (error.SocketErrorCode == SocketError.NoBufferSpaceAvailable)
            {
                // Messages were lost to a full receive buffer: something changed all the same.
            }
            catch (Exception error) when (error is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            Volatile.Write(ref _changed, 1);
            changed();
        }
    }

    /// <summary>struct sockaddr_nl.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct NetlinkAddress
    {
        public ushort Family;
        public ushort Pad;
        public uint PortId;
        public uint Groups;
    }

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    private static partial int CreateSocket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "bind", SetLastError = true)]
    private static partial int Bind(SafeSocketHandle socket, in NetlinkAddress address, int length);
}

using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace Mesh.Proxy.Isolation;

/// <summary>What a <see cref="ListenerHandoffMessage"/> says about a workload's listening socket.</summary>
public enum ListenerChange
{
    /// <summary>The socket comes with the message (SCM_RIGHTS): serve it.</summary>
    Added,

    /// <summary>The workload's labels changed (its container's were learned after its namespace was served).</summary>
    Relabelled,

    /// <summary>Stop serving it.</summary>
    Removed,
}

/// <summary>One message from the agent to the proxy about a workload's listening socket.</summary>
/// <param name="Id">The agent's number for the socket, unique while the agent runs.</param>
/// <param name="Change">What happened to the socket.</param>
/// <param name="Workload">The workload's config name; null for a workload the config does not name.</param>
/// <param name="Labels">The workload's labels, its identity for <c>source.labels</c>; empty on <see cref="ListenerChange.Removed"/>.</param>
public sealed record ListenerHandoffMessage(long Id, ListenerChange Change, string? Workload, IReadOnlyDictionary<string, string> Labels);

/// <summary>
/// The agent hands the proxy listening sockets it made inside workloads' network namespaces: the proxy runs without
/// capabilities and cannot enter a namespace (setns needs CAP_SYS_ADMIN), but a socket keeps the namespace it was made
/// in, so it can serve one it is given. Each message is one SOCK_SEQPACKET datagram of JSON, with the descriptor in
/// SCM_RIGHTS; .NET's Socket has no API for ancillary data, hence sendmsg/recvmsg by hand.
/// </summary>
public static unsafe partial class ListenerHandoff
{
    private const int SolSocket = 1;
    private const int ScmRights = 1;
    private const int SoPeerCred = 17;
    private const int MsgCmsgCloexec = 0x40000000;
    /// <summary>The largest message, labels included: a datagram's bytes beyond the receiver's buffer would be lost.</summary>
    public const int MaxMessageBytes = 64 * 1024;
    private const int ControlBytes = 24; // CMSG_SPACE(sizeof(int)) on 64-bit Linux

    /// <summary>
    /// Sends a message, with <paramref name="socket"/>'s descriptor when given; throws <see cref="SocketException"/> when
    /// the peer is gone, <see cref="ArgumentException"/> when the message is over <see cref="MaxMessageBytes"/>.
    /// </summary>
    public static void Send(Socket channel, ListenerHandoffMessage message, SafeHandle? socket)
    {
        var payload = Encoding.UTF8.GetBytes(ProxyWireFormat.Write(message));
        if (payload.Length > MaxMessageBytes)
        {
            throw new ArgumentException($"the message about listener {message.Id} is {payload.Length} bytes, over the {MaxMessageBytes} a message may be", nameof(message));
        }
        var control = stackalloc byte[ControlBytes];
        var added = false;
        try
        {
            socket?.DangerousAddRef(ref added);
            fixed (byte* data = payload)
            {
                var vector = new IoVector { Base = data, Length = (nuint)payload.Length };
                var header = new MessageHeader { Vectors = &vector, VectorCount = 1 };
                if (socket is not null)
                {
                    var cmsg = (ControlHeader*)control;
                    cmsg->Length = (nuint)(sizeof(ControlHeader) + sizeof(int));
                    cmsg->Level = SolSocket;
                    cmsg->Type = ScmRights;
                    *(int*)(control + sizeof(ControlHeader)) = (int)socket.DangerousGetHandle();
                    header.Control = control;
                    header.ControlLength = ControlBytes;
                }
                if (SendMessage((int)channel.Handle, &header, 0) < 0)
                {
                    throw new SocketException(Marshal.GetLastPInvokeError());
                }
            }
        }
        finally
        {
            if (added)
            {
                socket!.DangerousRelease();
            }
        }
    }

    /// <summary>The next message and the socket that came with it; null when the agent closed the channel. Blocks.</summary>
    public static (ListenerHandoffMessage Message, SafeSocketHandle? Socket)? Receive(Socket channel)
    {
        var payload = new byte[MaxMessageBytes];
        var control = stackalloc byte[ControlBytes];
        long received;
        var header = new MessageHeader();
        fixed (byte* data = payload)
        {
            var vector = new IoVector { Base = data, Length = (nuint)payload.Length };
            header.Vectors = &vector;
            header.VectorCount = 1;
            header.Control = control;
            header.ControlLength = ControlBytes;
            received = ReceiveMessage((int)channel.Handle, &header, MsgCmsgCloexec);
        }
        if (received < 0)
        {
            throw new SocketException(Marshal.GetLastPInvokeError());
        }
        if (received == 0)
        {
            return null;
        }
        var cmsg = (ControlHeader*)control;
        SafeSocketHandle? socket = header.ControlLength >= (nuint)(sizeof(ControlHeader) + sizeof(int)) && cmsg->Level == SolSocket && cmsg->Type == ScmRights
            ? new SafeSocketHandle(*(int*)(control + sizeof(ControlHeader)), ownsHandle: true)
            : null;
        try
        {
            return (ProxyWireFormat.Read<ListenerHandoffMessage>(Encoding.UTF8.GetString(payload, 0, (int)received)), socket);
        }
        catch
        {
            socket?.Dispose();
            throw;
        }
    }

    /// <summary>The uid of the process at the other end of a connected Unix socket (SO_PEERCRED), which the kernel vouches for.</summary>
    public static uint PeerUid(Socket channel)
    {
        Span<int> credentials = stackalloc int[3]; // struct ucred: pid, uid, gid
        channel.GetRawSocketOption(SolSocket, SoPeerCred, MemoryMarshal.AsBytes(credentials));
        return (uint)credentials[1];
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct IoVector
    {
        public byte* Base;
        public nuint Length;
    }

    /// <summary>struct msghdr on 64-bit Linux.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct MessageHeader
    {
        public void* Name;
        public uint NameLength;
        public IoVector* Vectors;
        public nuint VectorCount;
        public byte* Control;
        public nuint ControlLength;
        public int Flags;
    }

    /// <summary>struct cmsghdr on 64-bit Linux; the data follows it.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct ControlHeader
    {
        public nuint Length;
        public int Level;
        public int Type;
    }

    [LibraryImport("libc", EntryPoint = "sendmsg", SetLastError = true)]
    private static partial long SendMessage(int socket, MessageHeader* message, int flags);

    [LibraryImport("libc", EntryPoint = "recvmsg", SetLastError = true)]
    private static partial long ReceiveMessage(int socket, MessageHeader* message, int flags);
}

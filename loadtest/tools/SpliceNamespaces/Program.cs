// Usage: SpliceNamespaces CGROUP PIN_DIR COOKIE=ADDRESS[,ADDRESS...]...
// Attaches the kernel splice to CGROUP and serves each namespace with its addresses through
// SpliceDatapath.ServeNamespace, as the agent's workload discovery will once it exists; prints
// "attached", then on SIGTERM or SIGINT prints the splice counters and detaches.
using System.Net;
using System.Runtime.InteropServices;
using Mesh.Datapath;
using Mesh.Datapath.Interop;
using Mesh.Datapath.Programs;
using Microsoft.Extensions.Logging.Abstractions;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: SpliceNamespaces CGROUP PIN_DIR COOKIE=ADDRESS[,ADDRESS...]...");
    return 2;
}
using var libBpfLog = LibBpfLog.Install(NullLogger.Instance);
using var datapath = SpliceDatapath.Attach(new SpliceOptions { CgroupPath = args[0], PinDirectory = args[1] }, libBpfLog, NullLogger.Instance);
foreach (var served in args.Skip(2))
{
    var (cookie, addresses) = (served.Split('=')[0], served.Split('=')[1]);
    datapath.ServeNamespace(ulong.Parse(cookie), addresses.Split(',').Select(IPAddress.Parse));
}
using var stop = new CancellationTokenSource();
using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, signal => { signal.Cancel = true; stop.Cancel(); });
using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, signal => { signal.Cancel = true; stop.Cancel(); });
Console.WriteLine("attached");
await Task.Delay(Timeout.Infinite, stop.Token).ContinueWith(_ => { });
Console.WriteLine(datapath.ReadCounters());
return 0;

using Mesh.Datapath.Interop;
using Mesh.Datapath.Maps;
using Microsoft.Extensions.Logging;

namespace Mesh.Datapath.Programs;

/// <summary>
/// Loads BPF objects whose maps are pinned by name in one bpffs directory, so that objects of one
/// concern share each map and a restarted agent finds the maps of live connections again.
/// </summary>
internal sealed class PinnedObjectLoader
{
    private readonly string _pinDirectory;
    private readonly string? _objectDirectory;
    private readonly IReadOnlyList<string> _mapNames;
    private readonly LibBpfLog _libBpfLog;
    private readonly ILogger _logger;

    /// <param name="mapNames">
    /// The maps of this concern; only these (and the flow-event maps every concern shares, see
    /// <see cref="MapNames.Flows"/>) are replaced or removed.
    /// </param>
    public PinnedObjectLoader(string pinDirectory, string? objectDirectory, IReadOnlyList<string> mapNames, LibBpfLog libBpfLog, ILogger logger)
    {
        _pinDirectory = pinDirectory;
        _objectDirectory = objectDirectory;
        _mapNames = mapNames;
        _libBpfLog = libBpfLog;
        _logger = logger;
        BpfFileSystem.EnsureMounted();
        Directory.CreateDirectory(pinDirectory);
    }

    /// <summary>
    /// Loads the first object of a concern, which creates or reuses its pinned maps. Pins whose
    /// definition no longer matches (left by another version of Mesh) cannot be reused: they are
    /// removed and the load is tried once more. Connections that used them keep flowing until they close.
    /// </summary>
    public BpfObject LoadReusingPins(string objectName)
    {
        if (!PinnedMaps.Any(_pinDirectory, _mapNames))
        {
            return Load(objectName);
        }
        _logger.LogInformation("Reusing the maps of {Object} pinned in {PinDirectory} by an earlier run", objectName, _pinDirectory);
        try
        {
            return Load(objectName);
        }
        catch (BpfLoadException error)
        {
            _logger.LogWarning("Pinned maps in {PinDirectory} do not match this version ({Error}); replacing them", _pinDirectory, error.Message);
            RemovePins();
            Directory.CreateDirectory(_pinDirectory);
            return Load(objectName);
        }
    }

    /// <summary>Loads an object whose maps the first object of its concern already pinned.</summary>
    public BpfObject Load(string objectName)
    {
        var obj = BpfObject.Open(EmbeddedPrograms.Read(objectName, _objectDirectory), objectName);
        try
        {
            obj.PinMapsUnder(_pinDirectory);
            _libBpfLog.TakeCaptured();
            try
            {
                obj.Load();
            }
            catch (BpfException error)
            {
                throw new BpfLoadException(objectName, error, _libBpfLog.TakeCaptured());
            }
            return obj;
        }
        catch
        {
            obj.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Unpins this concern's maps and the shared flow-event maps. Unpinning a map another concern
    /// still uses does not free it: the loaded programs keep it alive.
    /// </summary>
    public void RemovePins() => PinnedMaps.Remove(_pinDirectory, [.. _mapNames, .. MapNames.Flows]);
}

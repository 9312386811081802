using VmFt.Guest.Devices.Virtio;
using VmFt.Hypervisor.Determinism;

namespace VmFt.Hypervisor.Storage;

/// <summary>
/// The host's half of the virtio-blk disk: between slices it performs the requests the guest
/// issued, in the order issued, on the backend, and hands each completion to the guest through the
/// <see cref="Recorder"/> (a read's data and status, a write's or a flush's status), so completion
/// is an event at a position and the log holds it. A caller that must hold writes back (the FT
/// primary's output rule) says so per request; the first write held holds everything after it,
/// so a later read never sees the disk without a write the guest issued before it.
/// </summary>
public sealed class DiskService(VirtioBlock device, IDiskBackend backend)
{
    private ulong _performedThrough;

    public VirtioBlock Device => device;
    public IDiskBackend Backend => backend;

    /// <summary>Requests issued that this service has not yet performed.</summary>
    public bool HasWork
    {
        get
        {
            var pending = device.Pending;
            return pending.Count > 0 && pending[^1].Id > _performedThrough;
        }
    }

    /// <summary>Whether <paramref name="request"/> waits to be performed by this service.</summary>
    public bool Waiting(DiskRequest request) => request.Id > _performedThrough;

    /// <summary>Requests performed (figures).</summary>
    public ulong Reads { get; private set; }
    public ulong Writes { get; private set; }
    public ulong Flushes { get; private set; }
    public ulong BytesRead { get; private set; }
    public ulong BytesWritten { get; private set; }

    /// <summary>
    /// Performs and completes every waiting request in order; stops at the first write or flush
    /// <paramref name="mayWrite"/> refuses. Returns how many completed.
    /// </summary>
    public int Service(Recorder recorder, Func<DiskRequest, bool>? mayWrite = null)
    {
        int completed = 0;
        // The device list changes as requests complete: walk a copy of what is waiting now.
        foreach (var request in device.Pending.ToArray())
        {
            if (request.Id <= _performedThrough) continue;
            if (request.Kind != DiskRequestKind.Read && mayWrite is not null && !mayWrite(request)) break;
            Perform(request, recorder);
            _performedThrough = request.Id;
            completed++;
        }
        return completed;
    }

    /// <summary>Forgets what was performed: every pending request is done again (the new primary at go-live).</summary>
    public void ReissueAll() => _performedThrough = 0;

    private void Perform(DiskRequest request, Recorder recorder)
    {
        long offset = (long)request.Sector * Guest.Machine.DiskConfiguration.SectorSize;
        try
        {
            switch (request.Kind)
            {
                case DiskRequestKind.Read:
                    var data = new byte[request.Length];
                    backend.Read(offset, data);
                    Reads++;
                    BytesRead += request.Length;
                    recorder.DiskRead(request.Id, VirtioBlock.StatusOk, data);
                    return;
                case DiskRequestKind.Write:
                    backend.Write(offset, request.WriteData);
                    Writes++;
                    BytesWritten += request.Length;
                    break;
                case DiskRequestKind.Flush:
                    backend.Flush();
                    Flushes++;
                    break;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            // The host's disk failed: the guest sees an I/O error, as on real hardware.
            recorder.DiskCompletion(request.Id, VirtioBlock.StatusIoError);
            return;
        }
        recorder.DiskCompletion(request.Id, VirtioBlock.StatusOk);
    }
}

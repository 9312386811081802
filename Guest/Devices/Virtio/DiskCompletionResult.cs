namespace VmFt.Guest.Devices.Virtio;

/// <summary>What became of a completion the host handed to <see cref="VirtioBlock.Complete"/>.</summary>
public enum DiskCompletionResult
{
    /// <summary>The request completed: data and status are in guest memory, the used ring holds it.</summary>
    Completed,
    /// <summary>No such request is pending (a device reset dropped it): nothing changed.</summary>
    NotPending,
    /// <summary>A read's data does not have the request's length: nothing changed (the host is wrong, not the guest).</summary>
    WrongLength,
}

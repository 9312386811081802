namespace VmFt.Channel.Framing;

/// <summary>The first byte of every frame. Values are on the wire: never renumber.</summary>
public enum FrameType : byte
{
    /// <summary>Handshake opener and the responder's answer: magic, version, role, VM id, nonce.</summary>
    Hello = 1,
    /// <summary>Handshake: HMAC-SHA256 over the transcript, proving the shared secret.</summary>
    HelloAck = 2,
    /// <summary>Handshake refused: reason code + UTF-8 text; the connection closes after it.</summary>
    Reject = 3,
    /// <summary>uint64 sequence of the last log event carried + opaque log bytes.</summary>
    LogData = 4,
    /// <summary>uint64 highest log sequence received and applied.</summary>
    Ack = 5,
    /// <summary>uint64 sender's position.</summary>
    Heartbeat = 6,
    /// <summary>Orderly close: reason code + UTF-8 text.</summary>
    Goodbye = 7,
    /// <summary>
    /// uint64 kind + opaque machine state, primary to a joining backup, all before its first
    /// LogData: the live copy the log then continues from (protocol version 3).
    /// </summary>
    State = 8,
}

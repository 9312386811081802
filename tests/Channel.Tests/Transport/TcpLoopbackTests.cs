using System.Net;
using VmFt.Channel.Transport;
using static VmFt.Channel.Tests.ChannelTestKit;

namespace VmFt.Channel.Tests.Transport;

public class TcpLoopbackTests
{
    [Fact]
    public async Task Primary_and_backup_over_tcp_stream_log_ack_it_and_say_goodbye()
    {
        using var listener = TcpChannelListener.Start(new IPEndPoint(IPAddress.Loopback, 0));
        var backupSide = Task.Run(async () =>
        {
            var pipe = await listener.AcceptAsync();
            var backup = await LogChannel.AcceptAsync(pipe, Options(ChannelRole.Backup));
            var bytes = 0L;
            await foreach (var segment in backup.ReceivedLog.ReadAllAsync())
            {
                bytes += segment.Bytes.Length;
                Assert.Equal((byte)segment.LastSequence, segment.Bytes.Span[0]);
                await backup.SendAckAsync(segment.LastSequence);
            }
            var closure = await backup.Completion;
            await backup.DisposeAsync();
            await pipe.DisposeAsync();
            return (bytes, closure);
        });

        var primaryPipe = await TcpChannelConnector.ConnectAsync(listener.LocalEndPoint);
        var primary = await LogChannel.ConnectAsync(primaryPipe, Options(ChannelRole.Primary, window: 64 * 1024)).WaitAsync(Patience);
        long sent = 0;
        for (ulong seq = 1; seq <= 200; seq++)
        {
            var batch = new byte[(int)(seq * 97 % 4000) + 1];
            batch[0] = (byte)seq;
            await primary.SendLogAsync(seq, batch).AsTask().WaitAsync(Patience);
            sent += batch.Length;
        }
        await primary.WaitForAckAsync(200).WaitAsync(Patience);
        Assert.Equal(0, primary.UnacknowledgedBytes);
        await primary.CloseAsync("done");
        await primary.DisposeAsync();

        var (received, closure) = await backupSide.WaitAsync(Patience);
        Assert.Equal(sent, received);
        Assert.Equal(ChannelCloseReason.PeerGoodbye, closure.Reason);
        await primaryPipe.DisposeAsync();
    }

    [Fact]
    public async Task Bytes_the_application_has_not_read_count_as_arrived()
    {
        // Nobody reads the accepted pipe: its receive loop stops once the pipe holds 1 MiB, and
        // the rest waits in the kernel's socket buffer; both count (what a starved reader has not taken).
        using var listener = TcpChannelListener.Start(new IPEndPoint(IPAddress.Loopback, 0));
        var accepting = listener.AcceptAsync();
        using var peer = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        await peer.ConnectAsync(listener.LocalEndPoint);
        var pipe = await accepting.AsTask().WaitAsync(Patience);
        Assert.Equal(0, pipe.BytesArrived);

        var chunk = new byte[64 * 1024];
        long sent = 0;
        using var stop = new CancellationTokenSource(Patience);
        var sending = Task.Run(async () =>
        {
            try
            {
                while (sent < 3 << 20)
                    sent += await peer.SendAsync(chunk, System.Net.Sockets.SocketFlags.None, stop.Token);
            }
            catch (OperationCanceledException)
            {
                // the kernel's buffers are full: that is as far as the peer gets
            }
        });
        const long PipeLimit = (1 << 20) + 16 * 1024; // the input pipe's pause threshold plus one receive
        Assert.True(await EventuallyAsync(() => pipe.BytesArrived > PipeLimit), $"{pipe.BytesArrived} bytes arrived");
        Assert.True(pipe.BytesArrived <= Interlocked.Read(ref sent) + chunk.Length);
        stop.Cancel();
        await sending;
        await pipe.DisposeAsync();
    }
}

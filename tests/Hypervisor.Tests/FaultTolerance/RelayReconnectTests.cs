using System.Text;
using VmFt.Guest.Images;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.FaultTolerance;
using VmFt.Hypervisor.FaultTolerance.Primary;
using VmFt.Hypervisor.FaultTolerance.Relay;
using Xunit;

namespace VmFt.Hypervisor.Tests.FaultTolerance;

/// <summary>
/// A relay connection that breaks loses what was in flight on it. The node announces itself again
/// when the relay reconnects; the relay must then re-send input the node has not logged, and the
/// announcement must never make the relay forget input that only the node holds.
/// </summary>
public class RelayReconnectTests
{
    private static byte[] Ascii(string s) => Encoding.ASCII.GetBytes(s);

    [Fact]
    public void The_live_node_announcing_itself_again_gets_the_input_it_may_have_lost()
    {
        var relay = new RelayCore();
        relay.OnNode(new LiveToRelay("A", 0, 0, 0));
        relay.TakeNodeMessages();
        relay.OnClientInput(Ascii("c1 1 GET k\n"));
        relay.TakeNodeMessages(); // lost with the broken connection

        relay.OnNode(new LiveToRelay("A", 0, 0, 0));
        var resent = relay.TakeNodeMessages();
        Assert.Contains(resent, m => m.Node == "A" && m.Message is InputFromRelay { Offset: 0 } i && Encoding.ASCII.GetString(i.Data) == "c1 1 GET k\n");
        Assert.Contains(resent, m => m.Node == "A" && m.Message is DeliveredFromRelay { OutputEnd: 0 });
        Assert.Equal("A", relay.LiveNode);
    }

    [Fact]
    public void An_announcement_from_a_node_of_an_older_generation_is_still_ignored()
    {
        var relay = new RelayCore();
        relay.OnNode(new LiveToRelay("A", 0, 0, 0));
        relay.OnNode(new LiveToRelay("B", 1, 0, 0));
        relay.TakeNodeMessages();
        relay.OnNode(new LiveToRelay("A", 0, 0, 0)); // the old primary's relay link came back
        Assert.Equal("B", relay.LiveNode);
        Assert.Equal(1UL, relay.Generation);
        Assert.Empty(relay.TakeNodeMessages());
    }

    [Fact]
    public void A_primary_announces_the_input_its_backup_acknowledged_not_what_merely_arrived()
    {
        var machine = new PcMachine(new MachineConfiguration { RamSize = 4u << 20 });
        machine.LoadMultiboot(BundledImages.Get("kvstore"), "kvstore");
        var node = new PrimaryNode("A", 0, machine, new OutputStream(), 1, 0);
        for (int i = 0; i < 50; i++) node.Step(); // boot to the prompt
        node.OnRelay(new InputFromRelay(0, Ascii("c1 1 PUT k v\n")));
        for (int i = 0; i < 50; i++) node.Step(); // the guest takes it a FIFO-full at a time
        node.TakeRelayMessages();
        Assert.Equal(13UL, node.InputEnd);

        node.RelayReconnected();
        var before = Assert.Single(node.TakeRelayMessages().OfType<LiveToRelay>());
        Assert.Equal(0UL, before.InputEnd); // not acknowledged: the relay must keep it

        node.OnAck(node.LogEnd);
        Assert.Contains(node.TakeRelayMessages(), m => m is InputLoggedToRelay { InputEnd: 13 });
        Assert.False(node.InputReady);
        node.RelayReconnected();
        var after = Assert.Single(node.TakeRelayMessages().OfType<LiveToRelay>());
        Assert.Equal(13UL, after.InputEnd);
    }
}

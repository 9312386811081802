using Iced.Intel;
using VmFt.Guest.Processor;
using static Iced.Intel.AssemblerRegisters;
using K = VmFt.Guest.Tests.Processor.SystemTestKit;

namespace VmFt.Guest.Tests.Processor;

public class PagingTests
{
    private const uint Pg = 0x8000_0000, Wp = 0x1_0000;
    private const uint Window = 0x40_0000; // linear 4 MiB..8 MiB: mapped through PageTable1, initially absent

    /// <summary>Ring-0 code that turns paging on (CR3 = the kit's directory) with extra CR0 bits.</summary>
    private static void EnablePaging(Assembler a, uint cr0Bits = 0)
    {
        a.mov(eax, K.PageDirectory);
        a.mov(cr3, eax);
        a.mov(eax, cr0);
        a.or(eax, (int)(Pg | cr0Bits));
        a.mov(cr0, eax);
    }

    /// <summary>IRET to ring 3 at <paramref name="eip"/>; DS and ES get the ring-3 data segment first (IRET would null ring-0 ones).</summary>
    private static void EnterRing3(Assembler a, uint eip)
    {
        a.mov(ax, K.UserDs);
        a.mov(ds, ax);
        a.mov(es, ax);
        a.push((int)K.UserDs);
        a.push((int)K.UserStack);
        a.push(0x202);
        a.push((int)K.UserCs);
        a.push((int)eip);
        a.iretd();
    }

    [Fact]
    public void Not_present_page_faults_with_cr2_and_error_code_and_the_handler_maps_it()
    {
        var k = new K();
        k.BuildIdentityPaging();
        uint handler = K.Handlers;
        k.Assemble(handler, a =>
        {
            a.pop(ebx);                                   // error code
            a.mov(ecx, cr2);
            a.mov(__dword_ptr[K.Results], ebx);
            a.mov(__dword_ptr[K.Results + 4], ecx);
            a.mov(__dword_ptr[K.PageTable1], 0x30_0000 | 3); // map Window -> 3 MiB, present + writable
            a.iretd();
        });
        k.SetGate(14, handler);
        k.Start(a =>
        {
            EnablePaging(a);
            a.mov(__dword_ptr[Window + 0x123], 0xFEED_F00Du);
            a.mov(edx, __dword_ptr[Window + 0x123]);
            a.hlt();
        });

        k.RunToHalt();
        Assert.Equal(2u, k.ReadU32(K.Results));              // not present, write, supervisor
        Assert.Equal(Window + 0x123, k.ReadU32(K.Results + 4));
        Assert.Equal(Window + 0x123, k.Cpu.Cr2);
        Assert.Equal(0xFEED_F00Du, k.ReadU32(0x30_0123));     // the restarted store went to the new page
        Assert.Equal(0xFEED_F00Du, k.Cpu.Edx);
    }

    [Fact]
    public void Ring3_read_of_a_supervisor_page_is_pf_with_user_bit()
    {
        var k = new K();
        k.BuildIdentityPaging();
        k.WriteU32(K.PageTable0 + 0x200 * 4, 0x20_0000 | 3); // 2 MiB: supervisor only
        k.RecordingHandler(14, hasErrorCode: true);
        k.Assemble(K.UserCode, a =>
        {
            a.mov(eax, __dword_ptr[0x20_0010]);
            a.hlt();
        });
        k.Start(a =>
        {
            EnablePaging(a);
            EnterRing3(a, K.UserCode);
        });
        k.RunToHalt();
        Assert.Equal(15u, k.ReadU32(K.Record(14)));
        Assert.Equal(5u, k.ReadU32(K.Record(14) + 4));     // present, read, user
        Assert.Equal(K.UserCode, k.ReadU32(K.Record(14) + 8));
        Assert.Equal(0x20_0010u, k.Cpu.Cr2);
    }

    [Fact]
    public void Ring3_write_to_a_read_only_page_is_pf_with_write_and_user_bits()
    {
        var k = new K();
        k.BuildIdentityPaging();
        k.WriteU32(K.PageTable0 + 0x200 * 4, 0x20_0000 | 5); // 2 MiB: user, read-only
        k.RecordingHandler(14, hasErrorCode: true);
        k.Assemble(K.UserCode, a =>
        {
            a.mov(eax, __dword_ptr[0x20_0010]);       // reading is allowed
            a.mov(__dword_ptr[0x20_0010], eax);       // writing is not
            a.hlt();
        });
        k.Start(a =>
        {
            EnablePaging(a);
            EnterRing3(a, K.UserCode);
        });
        k.RunToHalt();
        Assert.Equal(7u, k.ReadU32(K.Record(14) + 4));     // present, write, user
        Assert.Equal(K.UserCode + 5, k.ReadU32(K.Record(14) + 8));
    }

    [Fact]
    public void Cr0_wp_makes_read_only_pages_read_only_for_the_kernel_too()
    {
        var k = new K();
        k.BuildIdentityPaging();
        k.WriteU32(K.PageTable0 + 0x200 * 4, 0x20_0000 | 1); // 2 MiB: read-only, supervisor
        k.RecordingHandler(14, hasErrorCode: true);
        k.Start(a =>
        {
            EnablePaging(a);
            a.mov(__dword_ptr[0x20_0000], 0x1111u); // WP = 0: the kernel may write
            a.mov(eax, cr0);
            a.or(eax, (int)Wp);
            a.mov(cr0, eax);
            a.mov(__dword_ptr[0x20_0004], 0x2222u); // WP = 1: #PF
            a.hlt();
        });
        k.RunToHalt();
        Assert.Equal(0x1111u, k.ReadU32(0x20_0000));
        Assert.Equal(0u, k.ReadU32(0x20_0004));
        Assert.Equal(15u, k.ReadU32(K.Record(14)));
        Assert.Equal(3u, k.ReadU32(K.Record(14) + 4)); // present, write, supervisor
    }

    [Fact]
    public void Accessed_and_dirty_bits_are_set_by_reads_and_writes()
    {
        var k = new K();
        k.BuildIdentityPaging(pteFlags: 0x7);
        k.Start(a =>
        {
            EnablePaging(a);
            a.mov(eax, __dword_ptr[0x20_0000]);       // page 0x200: read
            a.mov(__dword_ptr[0x20_1000], eax);       // page 0x201: write
            a.hlt();
        });
        k.RunToHalt();
        uint read = k.ReadU32(K.PageTable0 + 0x200 * 4), written = k.ReadU32(K.PageTable0 + 0x201 * 4);
        uint untouched = k.ReadU32(K.PageTable0 + 0x300 * 4);
        Assert.Equal(0x20u, read & 0x60);      // A, not D
        Assert.Equal(0x60u, written & 0x60);   // A and D
        Assert.Equal(0u, untouched & 0x60);
        Assert.NotEqual(0u, k.ReadU32(K.PageDirectory) & 0x20); // the PDE is accessed too
    }

    [Fact]
    public void Four_mib_pages_with_cr4_pse()
    {
        var k = new K();
        k.BuildIdentityPaging();
        // PDE 1: a 4 MiB page mapping linear 4..8 MiB to physical 0..4 MiB (PS, writable, present).
        k.WriteU32(K.PageDirectory + 4, 0x0000_0083);
        k.Start(a =>
        {
            a.mov(eax, cr4);
            a.or(eax, 0x10);
            a.mov(cr4, eax);
            EnablePaging(a);
            a.mov(__dword_ptr[Window + 0x30_0040], 0xABCD_0123u);
            a.hlt();
        });
        k.RunToHalt();
        Assert.Equal(0xABCD_0123u, k.ReadU32(0x30_0040));
        Assert.Equal(0x60u, k.ReadU32(K.PageDirectory + 4) & 0x60); // accessed and dirty on the PDE
    }

    [Fact]
    public void Without_cr4_pse_the_ps_bit_is_ignored_and_the_pde_points_to_a_table()
    {
        var k = new K();
        k.BuildIdentityPaging();
        // PDE 1 with PS set points at PageTable0 (physical 0x101000 has the bits 0x80 | 3 in it).
        k.WriteU32(K.PageDirectory + 4, K.PageTable0 | 0x83);
        k.Start(a =>
        {
            EnablePaging(a);
            a.mov(__dword_ptr[Window + 0x5010], 0x5A5Au); // table 0, entry 5 -> physical 0x5000
            a.hlt();
        });
        k.RunToHalt();
        Assert.Equal(0x5A5Au, k.ReadU32(0x5010));
    }

    [Fact]
    public void Invlpg_and_cr3_reload_flush_stale_translations()
    {
        var k = new K();
        k.BuildIdentityPaging();
        k.WriteU32(0x30_0000, 0xAAAA);
        k.WriteU32(0x30_1000, 0xBBBB);
        k.WriteU32(K.PageTable1, 0x30_0000 | 3);
        k.Start(a =>
        {
            EnablePaging(a);
            a.mov(eax, __dword_ptr[Window]);                       // caches Window -> 0x300000
            a.mov(__dword_ptr[K.PageTable1], 0x30_1000 | 3);       // remap, no flush
            a.mov(ebx, __dword_ptr[Window]);                       // stale: still 0xAAAA
            a.invlpg(__[Window]);
            a.mov(ecx, __dword_ptr[Window]);                       // 0xBBBB
            a.mov(__dword_ptr[K.PageTable1], 0x30_0000 | 3);
            a.mov(esi, cr3);
            a.mov(cr3, esi);
            a.mov(edx, __dword_ptr[Window]);                       // 0xAAAA again
            a.hlt();
        });
        k.RunToHalt();
        Assert.Equal(0xAAAAu, k.Cpu.Eax);
        Assert.Equal(0xAAAAu, k.Cpu.Ebx);
        Assert.Equal(0xBBBBu, k.Cpu.Ecx);
        Assert.Equal(0xAAAAu, k.Cpu.Edx);
    }

    [Fact]
    public void Invlpg_inside_a_4mib_page_drops_the_whole_large_translation()
    {
        var k = new K();
        k.BuildIdentityPaging();
        k.WriteU32(0x0000_0100, 0x1111); // physical 0 MiB + 0x100
        k.WriteU32(K.PageDirectory + 4, 0x0000_0083);
        uint otherTable = 0x10_3000; // a 4 KiB table whose entry 0 points at 0x3000
        for (uint i = 0; i < 1024; i++) k.WriteU32(otherTable + i * 4, 0);
        k.WriteU32(otherTable, 0x3000 | 3);
        k.WriteU32(0x3100, 0x3333);
        k.Start(a =>
        {
            a.mov(eax, cr4);
            a.or(eax, 0x10);
            a.mov(cr4, eax);
            EnablePaging(a);
            a.mov(eax, __dword_ptr[Window + 0x100]);                  // via the 4 MiB page: 0x1111
            a.mov(__dword_ptr[K.PageDirectory + 4], otherTable | 3);  // now a 4 KiB table
            a.invlpg(__[Window + 0x20_0000]);                         // another address in the large page
            a.mov(ebx, __dword_ptr[Window + 0x100]);                  // must see the new table: 0x3333
            a.hlt();
        });
        k.RunToHalt();
        Assert.Equal(0x1111u, k.Cpu.Eax);
        Assert.Equal(0x3333u, k.Cpu.Ebx);
    }

    [Fact]
    public void Global_pages_survive_a_cr3_write_but_not_a_cr4_pge_toggle()
    {
        var k = new K();
        k.BuildIdentityPaging();
        k.WriteU32(0x30_0000, 0xAAAA);
        k.WriteU32(0x30_1000, 0xBBBB);
        k.WriteU32(K.PageTable1, 0x30_0000 | 0x103); // global
        k.Start(a =>
        {
            a.mov(eax, cr4);
            a.or(eax, 0x80);                                 // PGE
            a.mov(cr4, eax);
            EnablePaging(a);
            a.mov(eax, __dword_ptr[Window]);
            a.mov(__dword_ptr[K.PageTable1], 0x30_1000 | 0x103);
            a.mov(esi, cr3);
            a.mov(cr3, esi);
            a.mov(ebx, __dword_ptr[Window]);                 // global entry survived: 0xAAAA
            a.mov(esi, cr4);
            a.and(esi, ~0x80);
            a.mov(cr4, esi);
            a.or(esi, 0x80);
            a.mov(cr4, esi);
            a.mov(ecx, __dword_ptr[Window]);                 // flushed: 0xBBBB
            a.hlt();
        });
        k.RunToHalt();
        Assert.Equal(0xAAAAu, k.Cpu.Eax);
        Assert.Equal(0xAAAAu, k.Cpu.Ebx);
        Assert.Equal(0xBBBBu, k.Cpu.Ecx);
    }

    [Fact]
    public void Non_global_pages_do_not_survive_a_cr3_write_even_with_pge()
    {
        var k = new K();
        k.BuildIdentityPaging();
        k.WriteU32(0x30_0000, 0xAAAA);
        k.WriteU32(0x30_1000, 0xBBBB);
        k.WriteU32(K.PageTable1, 0x30_0000 | 3);
        k.Start(a =>
        {
            a.mov(eax, cr4);
            a.or(eax, 0x80);
            a.mov(cr4, eax);
            EnablePaging(a);
            a.mov(eax, __dword_ptr[Window]);
            a.mov(__dword_ptr[K.PageTable1], 0x30_1000 | 3);
            a.mov(esi, cr3);
            a.mov(cr3, esi);
            a.mov(ebx, __dword_ptr[Window]);
            a.hlt();
        });
        k.RunToHalt();
        Assert.Equal(0xAAAAu, k.Cpu.Eax);
        Assert.Equal(0xBBBBu, k.Cpu.Ebx);
    }
}

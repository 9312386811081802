/* floats: the workload in workload.c on COM1, then exit 0 through the debug-exit port. */
#include "io.h"
#include "serial.h"
#include "workload.h"

void kmain(u32 magic, void *info);

void kmain(u32 magic, void *info)
{
    (void)info;
    serial_init();
    floats_run(serial_write);
    debug_exit(magic == 0x2BADB002u ? 0 : 1);
}

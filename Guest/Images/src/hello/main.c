/* hello: the smallest guest. One line on COM1 (and on the 0xE9 debug console), then exit 0. */
#include "io.h"
#include "serial.h"

void kmain(u32 magic, void *info);

void kmain(u32 magic, void *info)
{
    (void)info;
    static const char greeting[] = "Hello from the VmFt guest!\n";
    serial_init();
    serial_puts(greeting);
    for (const char *p = greeting; *p; p++) outb(0xE9, (u8)*p);
    debug_exit(magic == 0x2BADB002u ? 0 : 1);
}

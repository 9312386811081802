/* Host-side reference: compiles bench.c natively (x86-64, glibc) and prints the checksums that
   main.c carries in its table. `make host-checksums` runs it. Independent of the guest build
   except for the workload source itself, so a CPU that computes differently shows up as FAIL. */
#include <stdio.h>
#include "bench.c"
#include "iterations.h"

int main(void)
{
    static const uint32_t counts[] = { CPUBENCH_REFERENCE_COUNTS };
    for (unsigned i = 0; i < sizeof counts / sizeof counts[0]; i++)
        printf("iterations=%u checksum=0x%08x\n", counts[i], bench_run(counts[i]));
    return 0;
}

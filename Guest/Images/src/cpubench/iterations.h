#ifndef CPUBENCH_ITERATIONS_H
#define CPUBENCH_ITERATIONS_H
/* Default iteration count: about 490 million guest instructions (about 44,500 per iteration,
   measured under qemu-system-i386 -icount shift=0, where the TSC advances one per instruction). */
#define CPUBENCH_DEFAULT_ITERATIONS 11000u
/* The counts main.c knows reference checksums for. */
#define CPUBENCH_REFERENCE_COUNTS 1u, 10u, 100u, 1000u, CPUBENCH_DEFAULT_ITERATIONS
#endif

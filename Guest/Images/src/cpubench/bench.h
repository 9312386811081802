/* The cpubench workload. Plain C on fixed-width integers only, so the guest build and a
   native host build compute the same checksums (see host_checksums.c). */
#ifndef CPUBENCH_BENCH_H
#define CPUBENCH_BENCH_H
#include <stdint.h>

/* Runs the given number of iterations and returns the checksum of everything computed. */
uint32_t bench_run(uint32_t iterations);
#endif

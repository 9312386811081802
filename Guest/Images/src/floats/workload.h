/* floats: a numeric workload compiled for the x87 (-mfpmath=387), run both in the guest and
   natively on the host by the tests, which compare the two outputs byte for byte. */
#ifndef VMFT_FLOATS_WORKLOAD_H
#define VMFT_FLOATS_WORKLOAD_H
#include "types.h"

typedef void (*floats_emit)(const char *s, u32 n);

/* Runs the workload, handing every output line (newline included) to emit. */
void floats_run(floats_emit emit);
#endif

/* Fixed-width types for freestanding i686 guests (no libc headers beyond gcc's own). */
#ifndef VMFT_TYPES_H
#define VMFT_TYPES_H
#include <stdint.h>
#include <stddef.h>
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int32_t i32;
typedef int64_t i64;
#endif

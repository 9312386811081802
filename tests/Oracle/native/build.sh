#!/bin/sh
# Builds the freestanding 32-bit oracle runner (no libc: raw int 0x80 system calls).
set -e
cd "$(dirname "$0")"
# Usage: build.sh [OUT] [x87]: with "x87", cases also carry the x87 state (see oracle.h).
out=${1:-oracle}
defs=
[ "$2" = x87 ] && defs=-DX87
CFLAGS="-m32 -ffreestanding -nostdlib -static -fno-pic -fno-stack-protector -fno-asynchronous-unwind-tables -O2 -mgeneral-regs-only"
gcc $CFLAGS $defs -c oracle.c -o oracle.o
gcc -m32 $defs -c switch.S -o switch.o
gcc -m32 -c start.S -o start.o
ld -m elf_i386 -static -e _start -o "$out" start.o oracle.o switch.o
rm -f oracle.o switch.o start.o

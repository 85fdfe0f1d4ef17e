# A compute loop with no sensitive instructions and the timer masked (for benchmarks)
# 4 instructions per iteration; ITERATIONS can be changed with --defsym.
.include "vlab.inc"
.ifndef ITERATIONS
.set ITERATIONS, 25000000
.endif
.section .text
.globl _start
_start:
    mov ecx, ITERATIONS
    xor eax, eax
    xor ebx, ebx
loop_top:
    add eax, ecx
    xor ebx, eax
    dec ecx
    jnz loop_top
    PRINT "compute done: "
    mov eax, ebx
    call puthex
    call newline
    EXIT 0
.include "lib.inc"

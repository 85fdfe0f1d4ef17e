# Port I/O of every size: a 4-byte OUT and IN on the timer port, a 2-byte read of the PIC mask.
.include "vlab.inc"
.section .text
.globl _start
_start:
    mov eax, 123456                     # 4 bytes: the timer period
    out TIMER_PORT, eax
    xor eax, eax
    in eax, TIMER_PORT
    PRINT "timer period = "
    call putdec
    call newline
    mov dx, PIC_DATA
    mov eax, 0xFFFFFFFF
    in ax, dx                           # 2 bytes: the mask (0xFF) and what floats above it
    PRINT "PIC read = "
    call puthex
    call newline
    EXIT 0
.include "lib.inc"

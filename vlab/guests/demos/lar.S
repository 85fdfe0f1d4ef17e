# LAR: reads access rights of the kernel code segment
# Demo guest: runs at CPL 0 natively; under a monitor it shows what the guest can observe.
.include "vlab.inc"
.section .text
.globl _start
_start:
    xor eax, eax
    mov ecx, KERNEL_CS
    lar eax, ecx                        # sensitive: fails (ZF=0) if DPL < real CPL
    jnz 1f
    PRINT "LAR 0x08: rights = "
    call puthex
    call newline
    EXIT 0
1:  PRINT "LAR 0x08: not accessible\n"
    EXIT 0
.include "lib.inc"

# VERR: is the kernel code segment readable from here?
# Demo guest: runs at CPL 0 natively; under a monitor it shows what the guest can observe.
.include "vlab.inc"
.section .text
.globl _start
_start:
    mov ax, KERNEL_CS
    verr ax                             # sensitive: checks against the real CPL
    jnz 1f
    PRINT "VERR 0x08: readable\n"
    EXIT 0
1:  PRINT "VERR 0x08: not readable\n"
    EXIT 0
.include "lib.inc"

# VERW: is the kernel data segment writable from here?
# Demo guest: runs at CPL 0 natively; under a monitor it shows what the guest can observe.
.include "vlab.inc"
.section .text
.globl _start
_start:
    mov ax, KERNEL_DS
    verw ax                             # sensitive: checks against the real CPL
    jnz 1f
    PRINT "VERW 0x10: writable\n"
    EXIT 0
1:  PRINT "VERW 0x10: not writable\n"
    EXIT 0
.include "lib.inc"

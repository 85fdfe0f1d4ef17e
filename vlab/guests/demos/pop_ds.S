# POP DS: loading a ring-0 data segment is checked against the real CPL
# Demo guest: runs at CPL 0 natively; under a monitor it shows what the guest can observe.
.include "vlab.inc"
.section .text
.globl _start
_start:
    push KERNEL_DS
    pop ds                              # sensitive: faults if DPL < real CPL
    mov eax, ds
    PRINT "POP DS: DS = "
    call puthex
    call newline
    EXIT 0
.include "lib.inc"

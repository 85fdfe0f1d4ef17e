# SLDT: stores the LDT selector without privilege
# Demo guest: runs at CPL 0 natively; under a monitor it shows what the guest can observe.
.include "vlab.inc"
.section .text
.globl _start
_start:
    mov eax, 0xFFFFFFFF
    sldt ax                             # sensitive, unprivileged
    and eax, 0xFFFF
    PRINT "SLDT: LDTR = "
    call puthex
    call newline
    EXIT 0
.include "lib.inc"

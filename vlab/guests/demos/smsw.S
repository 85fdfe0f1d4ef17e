# SMSW: reads the low 16 bits of CR0 without privilege
# Demo guest: runs at CPL 0 natively; under a monitor it shows what the guest can observe.
.include "vlab.inc"
.section .text
.globl _start
_start:
    smsw eax                            # sensitive, unprivileged
    and eax, 0xFFFF
    PRINT "SMSW: CR0[15:0] = "
    call puthex
    call newline
    EXIT 0
.include "lib.inc"

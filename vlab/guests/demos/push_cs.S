# PUSH CS: the pushed selector reveals the real privilege level
# Demo guest: runs at CPL 0 natively; under a monitor it shows what the guest can observe.
.include "vlab.inc"
.section .text
.globl _start
_start:
    push cs                             # sensitive, unprivileged
    pop eax
    PRINT "PUSH CS: selector = "
    call puthex
    call newline
    EXIT 0
.include "lib.inc"

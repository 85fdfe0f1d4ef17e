# STR: stores the task register selector without privilege
# Demo guest: runs at CPL 0 natively; under a monitor it shows what the guest can observe.
.include "vlab.inc"
.section .text
.globl _start
_start:
    xor eax, eax
    str ax                              # sensitive, unprivileged
    PRINT "STR: TR = "
    call puthex
    call newline
    EXIT 0
.include "lib.inc"

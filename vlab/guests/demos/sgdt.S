# SGDT: stores the GDTR without privilege
# Demo guest: runs at CPL 0 natively; under a monitor it shows what the guest can observe.
.include "vlab.inc"
.section .text
.globl _start
_start:
    sgdt [buf]                          # sensitive, unprivileged
    PRINT "SGDT: base = "
    mov eax, [buf + 2]
    call puthex
    PRINT " limit = "
    movzx eax, word ptr [buf]
    call puthex
    call newline
    EXIT 0
buf: .space 8
    EXIT 0
.include "lib.inc"

# Far JMP: to the ring-0 code segment
# Demo guest: runs at CPL 0 natively; under a monitor it shows what the guest can observe.
.include "vlab.inc"
.section .text
.globl _start
_start:
    ljmp KERNEL_CS, offset 1f           # sensitive: checked against the real CPL
1:  mov eax, cs
    PRINT "far JMP: arrived, CS = "
    call puthex
    call newline
    EXIT 0
.include "lib.inc"

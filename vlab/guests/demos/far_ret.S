# Far RET: returning to a ring-0 code selector
# Demo guest: runs at CPL 0 natively; under a monitor it shows what the guest can observe.
.include "vlab.inc"
.section .text
.globl _start
_start:
    push KERNEL_CS
    push offset 1f
    lret                                # sensitive: RET far checks the real CPL
1:  mov eax, cs
    PRINT "far RET: arrived, CS = "
    call puthex
    call newline
    EXIT 0
.include "lib.inc"

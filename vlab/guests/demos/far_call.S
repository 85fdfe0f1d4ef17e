# Far CALL and RET: through the ring-0 code segment
# Demo guest: runs at CPL 0 natively; under a monitor it shows what the guest can observe.
.include "vlab.inc"
.section .text
.globl _start
_start:
    lcall KERNEL_CS, offset far_fn      # sensitive: checked against the real CPL
    PRINT "far CALL: returned, CS at callee = "
    call puthex
    call newline
    EXIT 0
far_fn:
    mov eax, cs
    lret
    EXIT 0
.include "lib.inc"

# nanobenchmark call/ret: a near CALL to a subroutine that RETurns, in the kernel, ITERATIONS times
# Adams & Agesen, ASPLOS 2006, sec. 6, figure 4 ("call/ret"). Nothing here is sensitive: native,
# VT-x and a paravirtual kernel run it as it is. A binary translator pays for the RET all the
# same: an indirect branch, whose guest target must be looked up in the translation cache.
# Built with --defsym PV=1 (nano-callret-pv) only the boot changes (the loop is the same code).
.include "nano.inc"
.section .text
.globl _start
_start:
    NANO_BOOT
    mov ecx, ITERATIONS
1:  call leaf                           # the operation measured: CALL and RET
    loop 1b
    NANO_DONE calls
leaf:
    inc dword ptr [calls]
    ret
.include "lib.inc"
.section .data
.align 4
calls:  .long 0
.ifdef PV
trap_table:
    TRAP 13, 0, unexpected
    .long 0, 0
.endif
    NANO_DATA

# nanobenchmark divzero: DIV by zero, caught by the kernel's #DE handler, ITERATIONS times
# Adams & Agesen, ASPLOS 2006, sec. 6, figure 4 ("divzero"): a fault with the semantics of a
# page fault, but no MMU involved. The handler skips the DIV and returns with IRETD. Under VT-x
# the exception bitmap leaves #DE to the guest (no exit); a software monitor reflects it.
# Built with --defsym PV=1 (nano-divzero-pv) the handler is in the trap table (vector 0, events
# not masked) and returns with a plain IRETD, ring 1 to ring 1, as Xen's 32-bit guests do.
.include "nano.inc"
.section .text
.globl _start
_start:
    NANO_BOOT
.ifndef PV
    SET_GATE idt, 0, de_handler, 0x8E
.endif
    xor ebx, ebx
    mov ecx, ITERATIONS
1:  mov eax, 1
    xor edx, edx
div_insn:
    div ebx                             # the operation measured: #DE
div_next:
    loop 1b
    NANO_DONE faults

# #DE (a fault: no error code; the saved EIP is the DIV's). Skip it.
de_handler:
    cmp dword ptr [esp], offset div_insn
    jne unexpected
    mov dword ptr [esp], offset div_next
    inc dword ptr [faults]
    iretd
.include "lib.inc"
.section .data
.align 4
faults: .long 0
.ifdef PV
trap_table:
    TRAP 0, 0, de_handler               # flags: DPL 0, events not masked
    TRAP 13, 0, unexpected
    .long 0, 0
.endif
    NANO_DATA

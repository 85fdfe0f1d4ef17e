# nanobenchmark pgfault: a true page fault (not-present page), handled by the kernel, ITERATIONS times
# Adams & Agesen, ASPLOS 2006, sec. 6, figure 4 ("pgfault"). Paging is on; the kernel loads
# from NOT_PRESENT, whose page-table entry is not present, and its #PF handler skips the load
# (the least a handler can do: it checks the faulting EIP and does not read CR2, which would
# add a trap of its own under trap-and-emulate). A shadow-paging monitor (software, or VT-x
# without EPT, whose exception bitmap then has #PF) sees every fault and finds it true; with
# EPT the guest's own tables are the real ones and the guest takes its #PF alone.
# Built with --defsym PV=1 (nano-pgfault-pv): Xen's direct paging; the #PF comes through the
# trap table (events not masked) and the handler returns with a plain IRETD.
.include "nano.inc"
.section .text
.globl _start
_start:
    NANO_BOOT
.ifndef PV
    SET_GATE idt, 14, pf_handler, 0x8E
.endif
    NANO_PAGING
    mov ecx, ITERATIONS
1:
fault_insn:
    mov eax, [NOT_PRESENT]              # the operation measured: #PF, page not present
fault_next:
    loop 1b
    NANO_DONE faults

# #PF: error code, EIP, CS, EFLAGS. A not-present read by the kernel has error code 0.
pf_handler:
    cmp dword ptr [esp + 4], offset fault_insn
    jne unexpected
    cmp dword ptr [esp], 0
    jne unexpected
    mov dword ptr [esp + 4], offset fault_next
    add esp, 4                          # drop the error code
    inc dword ptr [faults]
    iretd
.include "lib.inc"
.section .data
.align 4
faults: .long 0
.ifdef PV
trap_table:
    TRAP 14, 0, pf_handler              # flags: DPL 0, events not masked
    TRAP 13, 0, unexpected
    .long 0, 0
.endif
    NANO_DATA

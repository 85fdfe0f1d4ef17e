# nanobenchmark cr8wr (as cli/sti): the kernel masks and unmasks interrupts, ITERATIONS times
# Adams & Agesen, ASPLOS 2006, sec. 6, figure 4 ("cr8wr"). 32-bit x86 has no CR8 (the task
# priority register is 64-bit only), so this guest measures the operation with the same lesson:
# a kernel write to its interrupt-masking state that VT-x never exits on (no pending interrupt
# here; the paper's CR8 writes exit only below a pending one) and that a translator emulates
# inline on the virtual IF, without a call: a CLI/STI pair. Under trap-and-emulate both trap.
# Built with --defsym PV=1 (nano-cli_sti-pv) it writes the event-mask byte in the shared-info
# page instead, as a Xen guest does, and checks for a pending event after unmasking (none is).
.include "nano.inc"
.section .text
.globl _start
_start:
    NANO_BOOT
    mov ecx, ITERATIONS
1:
.ifdef PV
    mov byte ptr [UPCALL_MASK], 1       # "cli": mask events (a store, no hypercall)
    mov byte ptr [UPCALL_MASK], 0       # "sti": unmask them ...
    cmp byte ptr [UPCALL_PENDING], 0    # ... and, as Linux's xen_irq_enable, look for an
    jne unexpected                      # event that arrived meanwhile (none: no timer is set)
.else
    cli                                 # the operation measured: a pair
    sti
.endif
    inc dword ptr [pairs]
    loop 1b
    NANO_DONE pairs
.include "lib.inc"
.section .data
.align 4
pairs:  .long 0
.ifdef PV
trap_table:
    TRAP 13, 0, unexpected
    .long 0, 0
.endif
    NANO_DATA

# title: an external IRQ through a gate with a null code selector: #GP(EXT=1), i.e. error code 1
# sdm: vol. 2A INT n operation ("IF new code-segment selector is NULL THEN #GP(EXT)"); vol. 3A 6.13
# bochs: skip vlab's timer device
# paravirt: n/a an IRQ from vlab's PIC through a broken IDT gate: a PV kernel has no IDT and no PIC (events come as the hypervisor's upcall)
# expect:
# | exception 13, error 0x00000001, eip +0
# | done
.include "conf.inc"
.include "timer.inc"
main:
    TIMER_PENDING
    mov word ptr [idt + TIMER_VECTOR * 8 + 2], 0
    MARK 1f
    RESUME 2f
    sti
    nop
1:  cli
2:  cli
    PRINT "done\n"
    EXIT 0

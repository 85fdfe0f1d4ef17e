# title: an external IRQ through a not-present gate: #NP(vector*8+2+1) (IDT=1, EXT=1), saved EIP where it was taken
# sdm: vol. 3A 6.13 (EXT "an event external to the program, such as an interrupt"); 6.8.3 (taken after the instruction after STI)
# bochs: skip vlab's timer device
# paravirt: n/a an IRQ from vlab's PIC through a broken IDT gate: a PV kernel has no IDT and no PIC (events come as the hypervisor's upcall)
# expect:
# | exception 11, error 0x00000103, eip +0
# | done
.include "conf.inc"
.include "timer.inc"
main:
    TIMER_PENDING
    mov byte ptr [idt + TIMER_VECTOR * 8 + 5], 0x0E     # gate 0x20: P=0
    MARK 1f
    RESUME 2f
    sti
    nop
1:  cli
2:  cli
    PRINT "done\n"
    EXIT 0

# title: a pending IRQ is taken after the instruction that follows STI (the STI shadow), not before
# sdm: vol. 3A 6.8.3 and vol. 2B STI ("external interrupts ... recognized ... after the end of the next instruction")
# bochs: skip vlab's timer device
# paravirt: n/a the STI interrupt shadow with an IRQ pending at vlab's PIC: a PV kernel has no PIC and masks events in shared info (no STI, no shadow)
# expect:
# | irq taken 1 time(s), at +1
.include "conf.inc"
.include "timer.inc"
main:
    TIMER_PENDING
    MARK 1f
    sti
1:  nop
    nop
    cli
    SHOW_IRQ
    EXIT 0

# title: STI; NOP; NOP; CLI takes the pending interrupt (once, between the two NOPs)
# sdm: vol. 2B STI; vol. 3A 6.8.3
# bochs: skip vlab's timer device
# paravirt: n/a the STI interrupt shadow with an IRQ pending at vlab's PIC: a PV kernel has no PIC and masks events in shared info (no STI, no shadow)
# expect:
# | irq taken 1 time(s), at +2
.include "conf.inc"
.include "timer.inc"
main:
    TIMER_PENDING
    MARK 1f
1:  sti
    nop
    nop
    cli
    SHOW_IRQ
    EXIT 0

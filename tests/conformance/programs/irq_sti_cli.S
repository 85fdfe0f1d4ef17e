# title: STI; CLI lets no pending interrupt in: the CLI executes inside the STI shadow
# sdm: vol. 2B STI (interrupts recognized after the next instruction; CLI clears IF first); vol. 3A 6.8.3
# bochs: skip vlab's timer device
# paravirt: n/a the STI interrupt shadow with an IRQ pending at vlab's PIC: a PV kernel has no PIC and masks events in shared info (no STI, no shadow)
# expect:
# | irq taken 0 time(s)
.include "conf.inc"
.include "timer.inc"
main:
    TIMER_PENDING
    sti
    cli
    SHOW_IRQ
    EXIT 0

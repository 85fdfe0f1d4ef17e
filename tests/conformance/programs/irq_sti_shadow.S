# title: a pending IRQ is taken after the instruction that follows STI (the STI shadow), not before
# sdm: vol. 3A 6.8.3 and vol. 2B STI ("external interrupts ... recognized ... after the end of the next instruction")
# bochs: skip vlab's timer device
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

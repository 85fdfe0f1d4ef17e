# title: IRET that sets IF: a pending IRQ is taken before the first instruction at the return address
# sdm: vol. 2A IRET; vol. 3A 6.8.1 (no interrupt shadow for IRET)
# bochs: skip vlab's timer device
# paravirt: n/a IRET setting IF with an IRQ pending at vlab's PIC: a PV kernel has no PIC and masks events in shared info (its IF is the hypervisor's)
# expect:
# | irq taken 1 time(s), at +0
.include "conf.inc"
.include "timer.inc"
main:
    TIMER_PENDING
    MARK 1f
    push 0x202
    push KERNEL_CS
    push offset 1f
    iretd
1:  nop
    cli
    SHOW_IRQ
    EXIT 0

# title: POPF that sets IF has no shadow: a pending IRQ is taken before the next instruction
# sdm: vol. 2B POPF (no delay, unlike STI); vol. 3A 6.8.1
# bochs: skip vlab's timer device
# diverges: trap_emulate POPF at ring 1 leaves the real IF alone and the monitor never sees it (a virtualization hole): the IRQ stays pending
# paravirt: n/a POPF setting IF with an IRQ pending at vlab's PIC: a PV kernel has no PIC and masks events in shared info (its IF is the hypervisor's)
# expect:
# | irq taken 1 time(s), at +0
.include "conf.inc"
.include "timer.inc"
main:
    TIMER_PENDING
    MARK 1f
    push 0x202
    popfd
1:  nop
    cli
    SHOW_IRQ
    EXIT 0

# title: Robin & Irvine: STR is unprivileged and stores the real task register selector
# sdm: vol. 2B STR; vol. 3A 2.4.4
# diverges: trap_emulate STR at ring 1 does not trap: it stores the monitor's TSS selector
# paravirt: n/a STR: the task register is the hypervisor's (a PV kernel has no TSS)
# expect:
# | str = 0x00000038
.include "conf.inc"
main:
    xor eax, eax
    str ax
    SHOW "str = ", eax
    EXIT 0

# title: Robin & Irvine: PUSHF pushes the real EFLAGS: after CLI at ring 0, IF=0 and IOPL=0
# sdm: vol. 2B PUSHF/PUSHFD; vol. 3A 2.3 (EFLAGS.IF, IOPL)
# diverges: trap_emulate PUSHF at ring 1 does not trap: it pushes the real IF (1) instead of the guest's virtual IF
# paravirt: n/a CLI at ring 0, then PUSHF's IF and IOPL: a PV kernel masks events in shared info; IF and IOPL are the hypervisor's
# expect:
# | IF = 0x00000000
# | IOPL = 0x00000000
.include "conf.inc"
main:
    mov al, 0xFF
    out PIC_DATA, al
    cli
    pushfd
    pop ebx
    mov eax, ebx
    shr eax, 9
    and eax, 1
    SHOW "IF = ", eax
    shr ebx, 12
    and ebx, 3
    SHOW "IOPL = ", ebx
    EXIT 0

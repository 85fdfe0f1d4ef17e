# title: Robin & Irvine: PUSH CS / PUSH SS push the real selectors, whose RPL is the CPL (0)
# sdm: vol. 2B PUSH; vol. 3A 5.5 (CPL is CS's low bits)
# diverges: trap_emulate PUSH CS at ring 1 pushes a selector with RPL 1
# paravirt: n/a CS and SS of RPL 0: a PV kernel runs in ring 1 (it sees 0x09 and 0x11)
# expect:
# | push cs = 0x00000008
# | push ss = 0x00000010
.include "conf.inc"
main:
    push cs
    pop ebx
    and ebx, 0xFFFF
    SHOW "push cs = ", ebx
    push ss
    pop ebx
    and ebx, 0xFFFF
    SHOW "push ss = ", ebx
    EXIT 0

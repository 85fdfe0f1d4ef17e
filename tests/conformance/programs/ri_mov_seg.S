# title: Robin & Irvine: MOV from CS and SS shows the real selectors (RPL = CPL = 0)
# sdm: vol. 2A MOV (segment register source); vol. 3A 5.5
# diverges: trap_emulate MOV from CS/SS is not trapped: the RPL shows ring 1
# paravirt: n/a CS and SS of RPL 0: a PV kernel runs in ring 1 (it sees 0x09 and 0x11)
# expect:
# | mov from cs = 0x00000008
# | mov from ss = 0x00000010
.include "conf.inc"
main:
    xor eax, eax
    mov ax, cs
    SHOW "mov from cs = ", eax
    xor eax, eax
    mov ax, ss
    SHOW "mov from ss = ", eax
    EXIT 0

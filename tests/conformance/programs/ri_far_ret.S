# title: Robin & Irvine: far RET to the ring-0 code selector returns at CPL 0 (CS = 0x08)
# sdm: vol. 2A RET ("IF return code segment selector RPL < CPL THEN #GP(selector)")
# diverges: trap_emulate far RET is not trapped: at ring 1 a return to an RPL-0 selector is checked against CPL 1
# paravirt: n/a CS of RPL 0 after a far RET at ring 0: a PV kernel runs in ring 1 (it sees 0x09)
# expect:
# | cs = 0x00000008
.include "conf.inc"
main:
    push KERNEL_CS
    push offset 1f
    lret
1:  xor eax, eax
    mov ax, cs
    SHOW "cs = ", eax
    EXIT 0

# title: Robin & Irvine: far JMP to the ring-0 code selector arrives at CPL 0 (CS = 0x08)
# sdm: vol. 2A JMP (far, non-conforming: "IF RPL > CPL OR DPL != CPL THEN #GP(selector)")
# diverges: trap_emulate far JMP is not trapped: at ring 1 CS has RPL 1 (or the DPL-0 target faults)
# paravirt: n/a CS of RPL 0 after a far JMP at ring 0: a PV kernel runs in ring 1 (it sees 0x09)
# expect:
# | cs = 0x00000008
.include "conf.inc"
main:
    ljmp KERNEL_CS, offset 1f
1:  xor eax, eax
    mov ax, cs
    SHOW "cs = ", eax
    EXIT 0

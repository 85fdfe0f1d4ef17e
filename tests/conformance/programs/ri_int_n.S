# title: Robin & Irvine: INT n through a DPL-0 gate from ring 0: delivered, the frame holds CS 0x08 (RPL 0)
# sdm: vol. 2A INT n (gate DPL >= CPL for software interrupts); vol. 3A 6.12.1
# diverges: trap_emulate INT n is checked against the real CPL 1 (#GP for the DPL-0 gate), or the frame shows RPL 1
# paravirt: n/a INT n through a DPL-0 IDT gate at ring 0, the frame's CS of RPL 0: a PV kernel has no IDT and does not run in ring 0
# expect:
# | handler cs = 0x00000008
# | saved cs = 0x00000008
.include "conf.inc"
main:
    SET_GATE idt, 0x40, handler, 0x8E
    int 0x40
    SHOW "handler cs = ", ebx
    SHOW "saved cs = ", ecx
    EXIT 0
handler:
    xor ebx, ebx
    mov bx, cs
    mov ecx, [esp + 4]
    and ecx, 0xFFFF
    iretd

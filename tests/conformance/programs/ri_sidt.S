# title: Robin & Irvine: SIDT is unprivileged and stores the real IDTR
# sdm: vol. 2B SIDT; vol. 3A 2.4.3
# diverges: trap_emulate SIDT at ring 1 does not trap: it stores the monitor's IDTR
# paravirt: n/a SIDT: IDTR is the hypervisor's (a PV kernel has no IDT)
# expect:
# | sidt base is own idt = 0x00000001
# | sidt limit = 0x000007ff
.include "conf.inc"
main:
    sidt [buf]
    xor eax, eax
    cmp dword ptr [buf + 2], offset idt
    sete al
    SHOW "sidt base is own idt = ", eax
    movzx eax, word ptr [buf]
    SHOW "sidt limit = ", eax
    EXIT 0
.section .data
buf: .space 8

# title: Robin & Irvine: SGDT is unprivileged and stores the real GDTR: the guest sees its own GDT natively
# sdm: vol. 2B SGDT ("can be executed at any privilege level"); vol. 3A 2.4.1
# diverges: trap_emulate SGDT at ring 1 does not trap: it stores the monitor's GDTR
# paravirt: n/a SGDT: GDTR is the hypervisor's (a PV kernel's GDT is installed with set_gdt)
# expect:
# | sgdt base is own gdt = 0x00000001
# | sgdt limit = 0x0000007f
.include "conf.inc"
main:
    sgdt [buf]
    xor eax, eax
    cmp dword ptr [buf + 2], offset gdt
    sete al
    SHOW "sgdt base is own gdt = ", eax
    movzx eax, word ptr [buf]
    SHOW "sgdt limit = ", eax
    EXIT 0
.section .data
buf: .space 8

# title: Robin & Irvine: SLDT is unprivileged and stores the real LDTR selector
# sdm: vol. 2B SLDT; vol. 3A 2.4.2
# diverges: trap_emulate SLDT at ring 1 does not trap: it stores the monitor's LDT selector
# paravirt: n/a LLDT/SLDT: a PV kernel has no LDT of its own (Xen's MMUEXT_SET_LDT is not in vlab)
# expect:
# | sldt = 0x00000040
.include "conf.inc"
main:
    mov edi, offset gdt + GDT_SPARE
    mov eax, offset ldt
    mov ebx, 7
    mov cx, 0x0082
    call mkdesc
    mov ax, GDT_SPARE
    lldt ax
    mov eax, 0xFFFFFFFF
    sldt ax
    and eax, 0xFFFF
    SHOW "sldt = ", eax
    EXIT 0
.section .data
ldt: .quad 0

# title: Robin & Irvine: VERW checks the CPL and the selector's RPL against the descriptor: ring 0 may write the DPL-0 kernel data segment, but not through an RPL-1 selector, and ring-1 code may not
# sdm: vol. 2B VERR/VERW ("IF ... (CPL > DPL) or (RPL > DPL) THEN ZF := 0" for a data segment)
# diverges: trap_emulate VERW does not trap: the kernel really runs at CPL 1 over descriptors shadowed at DPL 1, so an RPL-1 selector passes
# paravirt: n/a ring 0 against ring-1 code apart from the kernel: a PV kernel is itself ring 1
# expect:
# | ring 0: VERW 0x10 = 0x00000001
# | ring 0: VERW 0x11 = 0x00000000
# | ring 1: VERW 0x10 = 0x00000000
.include "conf.inc"
main:
    mov ax, KERNEL_DS
    verw ax
    setz al
    movzx eax, al
    SHOW "ring 0: VERW 0x10 = ", eax
    mov ax, KERNEL_DS | 1
    verw ax
    setz al
    movzx eax, al
    SHOW "ring 0: VERW 0x11 = ", eax
    TO_RING1 r1
r1:
    mov ax, KERNEL_DS
    verw ax
    setz cl
    movzx ecx, cl
    USHOW "ring 1: VERW 0x10 = ", ecx
    mov eax, 3
    int 0x80

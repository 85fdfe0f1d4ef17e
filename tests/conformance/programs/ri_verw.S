# title: Robin & Irvine: VERW checks the real CPL: ring-1 code cannot write the DPL-0 kernel data segment (ZF=0), ring-0 code can
# sdm: vol. 2B VERR/VERW
# diverges: trap_emulate with ring compression the DPL-0 descriptors are shadowed at DPL 1, so ring 1 sees them writable
# expect:
# | ring 0: VERW 0x10 = 0x00000001
# | ring 1: VERW 0x10 = 0x00000000
.include "conf.inc"
main:
    mov ax, KERNEL_DS
    verw ax
    setz al
    movzx eax, al
    SHOW "ring 0: VERW 0x10 = ", eax
    TO_RING1 r1
r1:
    mov ax, KERNEL_DS
    verw ax
    setz cl
    movzx ecx, cl
    USHOW "ring 1: VERW 0x10 = ", ecx
    mov eax, 3
    int 0x80

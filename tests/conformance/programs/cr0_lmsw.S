# title: LMSW loads only CR0 bits 3:0 (PE, MP, EM, TS) and cannot clear PE
# sdm: vol. 2A LMSW ("Only the low-order 4 bits of the source operand ... are loaded"; "LMSW can set PE but cannot clear it"); vol. 3A 2.5
# paravirt: n/a LMSW: CR0 is the hypervisor's
# expect:
# | lmsw 0x000e: CR0[15:0] = 0x0000001f
# | lmsw 0x0000: CR0[15:0] = 0x00000011
# | lmsw 0xfff0: CR0[15:0] = 0x00000011
.include "conf.inc"
main:
    mov eax, cr0
    and eax, ~0xFFFF
    or eax, 0x11                        # PE, ET
    mov cr0, eax
    mov ax, 0x000E
    lmsw ax
    mov eax, cr0
    and eax, 0xFFFF
    SHOW "lmsw 0x000e: CR0[15:0] = ", eax
    xor eax, eax
    lmsw ax
    mov eax, cr0
    and eax, 0xFFFF
    SHOW "lmsw 0x0000: CR0[15:0] = ", eax
    mov ax, 0xFFF0
    lmsw ax
    mov eax, cr0
    and eax, 0xFFFF
    SHOW "lmsw 0xfff0: CR0[15:0] = ", eax
    EXIT 0

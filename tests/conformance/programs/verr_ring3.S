# title: VERR/VERW/LAR at ring 3: DPL-0 data is neither readable nor writable (ZF=0), DPL-3 data is; a DPL-0 conforming code segment is readable
# sdm: vol. 2B VERR/VERW ("conforming code segments are not checked for privilege"); vol. 2A LAR (DPL >= max(CPL, RPL) unless conforming)
# expect:
# | VERR 0x10: ZF = 0x00000000
# | VERW 0x10: ZF = 0x00000000
# | VERW 0x33: ZF = 0x00000001
# | VERR 0x43 (conforming, DPL 0): ZF = 0x00000001
# | LAR 0x08: ZF = 0x00000000
.include "conf.inc"
.macro UZF text
    pushfd
    pop ecx
    shr ecx, 6
    and ecx, 1
    USHOW "\text", ecx
.endm
main:
    mov edi, offset gdt + 0x40
    xor eax, eax
    mov ebx, 0xFFFFF
    mov cx, 0xC9E                       # conforming readable code, DPL 0
    call mkdesc
    TO_RING3 user
user:
    mov ax, 0x10
    verr ax
    UZF "VERR 0x10: ZF = "
    mov ax, 0x10
    verw ax
    UZF "VERW 0x10: ZF = "
    mov ax, 0x33
    verw ax
    UZF "VERW 0x33: ZF = "
    mov ax, 0x43
    verr ax
    UZF "VERR 0x43 (conforming, DPL 0): ZF = "
    mov eax, 0x08
    lar eax, eax
    UZF "LAR 0x08: ZF = "
    mov eax, 3
    int 0x80

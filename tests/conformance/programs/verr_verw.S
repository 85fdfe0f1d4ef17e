# title: VERR/VERW at ring 0: readable code and data readable; execute-only code, TSS and null not; data writable, code and read-only data not
# sdm: vol. 2B VERR/VERW (ZF=1 if readable/writable from CPL and RPL; system descriptors and the null selector give ZF=0)
# paravirt: n/a VERR of the TSS descriptor: a PV kernel has no TSS (set_gdt takes no system descriptor)
# expect:
# | VERR 0x08 (code, readable): 1
# | VERR 0x10 (data): 1
# | VERR 0x40 (execute-only code): 0
# | VERR 0x38 (TSS): 0
# | VERR 0x00: 0
# | VERW 0x10 (data): 1
# | VERW 0x08 (code): 0
# | VERW 0x48 (read-only data): 0
.include "conf.inc"
main:
    mov edi, offset gdt + 0x40
    xor eax, eax
    mov ebx, 0xFFFFF
    mov cx, 0xC98                       # execute-only code
    call mkdesc
    add edi, 8
    mov cx, 0xC90                       # read-only data
    call mkdesc
    mov ax, 0x08
    verr ax
    SHOWZF "VERR 0x08 (code, readable): "
    mov ax, 0x10
    verr ax
    SHOWZF "VERR 0x10 (data): "
    mov ax, 0x40
    verr ax
    SHOWZF "VERR 0x40 (execute-only code): "
    mov ax, 0x38
    verr ax
    SHOWZF "VERR 0x38 (TSS): "
    xor eax, eax
    verr ax
    SHOWZF "VERR 0x00: "
    mov ax, 0x10
    verw ax
    SHOWZF "VERW 0x10 (data): "
    mov ax, 0x08
    verw ax
    SHOWZF "VERW 0x08 (code): "
    mov ax, 0x48
    verw ax
    SHOWZF "VERW 0x48 (read-only data): "
    EXIT 0

# title: LAR on code, data, TSS (busy), LDT and call-gate descriptors (ZF=1, rights; bits 19:16 masked); on an interrupt gate, the null selector and past the GDT limit: ZF=0
# sdm: vol. 2A LAR (valid types table; "bits 19:16 ... undefined" in some editions); vol. 3A 3.4.5 (descriptor layout; conf.inc's GDT has the accessed bits set)
# diverges: trap_emulate LAR at ring 1 sees the shadow descriptors (DPL 1) and fails on DPL-0 system ones
# paravirt: n/a LAR of TSS, LDT and call-gate descriptors and of the DPL-0 kernel segments: set_gdt takes no system descriptor, and a PV kernel's segments are DPL 1
# expect:
# | LAR 0x08: ZF 1, 0x00c09b00
# | LAR 0x10: ZF 1, 0x00c09300
# | LAR 0x2b: ZF 1, 0x00c0fb00
# | LAR 0x38: ZF 1, 0x00008b00
# | LAR 0x40 (LDT): ZF 1, 0x00008200
# | LAR 0x48 (call gate): ZF 1, 0x0000ec00
# | LAR 0x50 (interrupt gate): ZF 0
# | LAR 0x00: ZF 0
# | LAR 0x100: ZF 0
.include "conf.inc"
.macro LARSHOW sel, text, mask=0x00F0FF00
    mov ecx, \sel
    mov eax, 0xDEADBEEF
    lar eax, ecx
    pushfd
    PRINT "\text: ZF "
    pop edx
    shr edx, 6
    and edx, 1
    xchg eax, edx
    call putdec
    test eax, eax
    jz 9f
    PRINT ", "
    mov eax, edx
    and eax, \mask
    call puthex
9:  call newline
.endm
main:
    mov edi, offset gdt + 0x40          # LDT descriptor (8 bytes at ldt)
    mov eax, offset ldt
    mov ebx, 7
    mov cx, 0x0082
    call mkdesc
    mov edi, offset gdt + 0x48          # call gate DPL 3
    mov eax, 0
    mov bx, KERNEL_CS
    mov cx, 0x00EC
    call mkgate
    mov edi, offset gdt + 0x50          # interrupt gate (not valid for LAR)
    mov cx, 0x008E
    call mkgate
    lgdt [gdt_desc]
    LARSHOW 0x08, "LAR 0x08"
    LARSHOW 0x10, "LAR 0x10"
    LARSHOW 0x2B, "LAR 0x2b"
    LARSHOW 0x38, "LAR 0x38"
    LARSHOW 0x40, "LAR 0x40 (LDT)"
    LARSHOW 0x48, "LAR 0x48 (call gate)", 0xFF00
    LARSHOW 0x50, "LAR 0x50 (interrupt gate)"
    LARSHOW 0x00, "LAR 0x00"
    LARSHOW 0x100, "LAR 0x100"
    EXIT 0
.section .data
ldt: .quad 0

# title: LSL: page-granular code (0xFFFFFFFF), byte-granular TSS and LDT limits; ZF=0 for a call gate and the null selector
# sdm: vol. 2A LSL ("if G=1 the limit is scaled: (limit << 12) | 0xFFF"; valid types: no gates)
# diverges: trap_emulate LSL at ring 1 sees the shadow descriptors (truncated limit) and fails on DPL-0 system ones
# paravirt: n/a LSL of TSS, LDT and call-gate descriptors and of the DPL-0 kernel segments: set_gdt takes no system descriptor
# expect:
# | LSL 0x08: ZF 1, 0xffffffff
# | LSL 0x38: ZF 1, 0x00002068
# | LSL 0x40 (LDT): ZF 1, 0x00000007
# | LSL 0x48: ZF 1, 0x00abcfff
# | LSL 0x50 (call gate): ZF 0
# | LSL 0x00: ZF 0
.include "conf.inc"
.macro LSLSHOW sel, text
    mov ecx, \sel
    mov eax, 0xDEADBEEF
    lsl eax, ecx
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
    call puthex
9:  call newline
.endm
main:
    mov edi, offset gdt + 0x40
    mov eax, offset ldt
    mov ebx, 7
    mov cx, 0x0082
    call mkdesc
    add edi, 8                          # 0x48: data, G=1, limit 0xABC
    xor eax, eax
    mov ebx, 0xABC
    mov cx, 0xC92
    call mkdesc
    mov edi, offset gdt + 0x50
    mov bx, KERNEL_CS
    mov cx, 0x008C
    call mkgate
    lgdt [gdt_desc]
    LSLSHOW 0x08, "LSL 0x08"
    LSLSHOW 0x38, "LSL 0x38"
    LSLSHOW 0x40, "LSL 0x40 (LDT)"
    LSLSHOW 0x48, "LSL 0x48"
    LSLSHOW 0x50, "LSL 0x50 (call gate)"
    LSLSHOW 0x00, "LSL 0x00"
    EXIT 0
.section .data
ldt: .quad 0

# title: VERR and LAR at ring 1: DPL-0 data/code, the TSS and an RPL-3 selector for ring-1 data fail (ZF=0); ring-1 data and readable code and ring-3 data pass; a DPL-0 conforming code segment passes (no privilege check); an execute-only ring-1 code segment passes LAR but not VERR
# sdm: vol. 2B VERR/VERW ("IF segment descriptor is not for a conforming code segment and (CPL > DPL) or (RPL > DPL) THEN ZF <- 0"; VERR also needs a readable segment); vol. 2A LAR ("IF SegmentDescriptor(Type) != conforming code segment and (CPL > DPL) or (RPL > DPL) or ... not a valid type THEN ZF <- 0 ELSE DEST <- access rights, ZF <- 1"; bits 19:16 masked here); vol. 3A 3.4.5 (types; conf.inc's descriptors have Accessed set)
# diverges: trap_emulate LAR does not trap (a Robin & Irvine hole): it reads the shadow descriptors, whose DPLs the monitor raised by one
# paravirt: n/a ring-1 code apart from the kernel, and DPL-0 descriptors and the TSS's: a PV kernel is itself ring 1 and its GDT has neither
# expect:
# | VERR 0x10: ZF 0
# | VERR 0x08: ZF 0
# | VERR 0x21: ZF 1
# | VERR 0x23: ZF 0
# | VERR 0x19: ZF 1
# | VERR 0x33: ZF 1
# | VERR 0x40: ZF 1
# | VERR 0x49: ZF 0
# | LAR 0x10: ZF 0
# | LAR 0x08: ZF 0
# | LAR 0x38: ZF 0
# | LAR 0x21: ZF 1, 0x00c0b300
# | LAR 0x23: ZF 0
# | LAR 0x33: ZF 1, 0x00c0f300
# | LAR 0x40: ZF 1, 0x00c09f00
# | LAR 0x49: ZF 1, 0x00c0b900
.include "conf.inc"
.set NV, 8                              # VERR cases
.set NL, 8                              # LAR cases
main:
    mov edi, offset gdt + 0x40          # conforming, readable code, DPL 0
    xor eax, eax
    mov ebx, 0xFFFFF
    mov cx, 0xC9F
    call mkdesc
    mov edi, offset gdt + 0x48          # execute-only code, DPL 1
    mov cx, 0xCB9
    call mkdesc
    TO_RING1 r1
r1:
    xor esi, esi
1:  movzx ecx, word ptr [verr_sels + esi * 2]
    verr cx
    setz byte ptr [verr_zf + esi]
    inc esi
    cmp esi, NV
    jb 1b
    xor esi, esi
2:  movzx ecx, word ptr [lar_sels + esi * 2]
    mov eax, 0xDEADBEEF
    lar eax, ecx
    setz byte ptr [lar_zf + esi]
    mov [lar_val + esi * 4], eax
    inc esi
    cmp esi, NL
    jb 2b
    UBACK k
k:  mov ax, KERNEL_DS
    mov ds, ax
    mov es, ax
    xor esi, esi
3:  PRINT "VERR 0x"
    movzx eax, word ptr [verr_sels + esi * 2]
    call puthex2
    PRINT ": ZF "
    movzx eax, byte ptr [verr_zf + esi]
    call putdec
    call newline
    inc esi
    cmp esi, NV
    jb 3b
    xor esi, esi
4:  PRINT "LAR 0x"
    movzx eax, word ptr [lar_sels + esi * 2]
    call puthex2
    PRINT ": ZF "
    movzx eax, byte ptr [lar_zf + esi]
    call putdec
    test eax, eax
    jz 5f
    PRINT ", "
    mov eax, [lar_val + esi * 4]
    and eax, 0x00F0FF00
    call puthex
5:  call newline
    inc esi
    cmp esi, NL
    jb 4b
    EXIT 0
puthex2:                                # eax (a byte) as two hex digits
    push eax
    shr eax, 4
    call hexdigit
    pop eax
hexdigit:
    push eax
    and eax, 0xF
    cmp al, 10
    jb 6f
    add al, 'a' - 10 - '0'
6:  add al, '0'
    call putc
    pop eax
    ret
.section .data
.align 4
verr_sels: .word 0x10, 0x08, 0x21, 0x23, 0x19, 0x33, 0x40, 0x49
lar_sels:  .word 0x10, 0x08, 0x38, 0x21, 0x23, 0x33, 0x40, 0x49
verr_zf:   .space NV
lar_zf:    .space NL
.align 4
lar_val:   .space NL * 4

# title: an LDT loaded with LLDT and used: a TI=1 selector loads an LDT data segment (base != 0) and stores through it; LAR/LSL on the LDT selector; an LDT selector past the LDT limit: #GP(sel)
# sdm: vol. 3A 3.5.1 (LDT, TI flag), 3.4.2 (selector); vol. 2A LLDT, LAR, LSL; vol. 2A MOV (#GP(selector) past the table limit)
# diverges: trap_emulate LAR at ring 1 reads the shadow descriptor (DPL 1): a virtualization hole
# paravirt: n/a LLDT: a PV kernel has no LDT of its own (Xen's MMUEXT_SET_LDT is not in vlab; set_gdt takes no LDT descriptor)
# expect:
# | buffer = 0x12345678
# | LAR 0x0c: 0x00409300
# | LSL 0x0c: 0x000000ff
# | exception 13, error 0x0000001c, eip +0
# | done
.include "conf.inc"
main:
    mov edi, offset ldt + 8             # LDT entry 1 (selector 0x0c): data base=buffer, limit 0xFF, byte granular, 32-bit
    mov eax, offset buffer
    mov ebx, 0xFF
    mov cx, 0x493
    call mkdesc
    mov edi, offset gdt + GDT_SPARE     # GDT 0x40: the LDT (two entries)
    mov eax, offset ldt
    mov ebx, 15
    mov cx, 0x0082
    call mkdesc
    mov ax, GDT_SPARE
    lldt ax
    mov ax, 0x0C                        # index 1, TI=1, RPL 0
    mov es, ax
    mov dword ptr es:[4], 0x12345678
    mov ax, KERNEL_DS
    mov es, ax
    SHOW "buffer = ", [buffer + 4]
    mov ecx, 0x0C
    lar eax, ecx
    and eax, 0x00F0FF00
    SHOW "LAR 0x0c: ", eax
    lsl eax, ecx
    SHOW "LSL 0x0c: ", eax
    mov ax, 0x1C                        # index 3: past the LDT's limit of 15
    MARK 1f
    RESUME 2f
1:  mov es, ax
2:  PRINT "done\n"
    EXIT 0
.section .data
.align 8
ldt:    .quad 0, 0
buffer: .space 16

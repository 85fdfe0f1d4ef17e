# title: LLDT with a null selector is allowed (LDTR marked unusable, no fault); LLDT of a data descriptor: #GP(sel); of a not-present LDT: #NP(sel)
# sdm: vol. 2A LLDT ("If bits 2-15 of the source operand are 0, LDTR is marked invalid"; "#GP(selector) if the selector ... does not point to an LDT"; "#NP(selector) if the LDT descriptor is not present")
# paravirt: n/a LLDT: a PV kernel has no LDT of its own (Xen's MMUEXT_SET_LDT is not in vlab; set_gdt takes no LDT descriptor)
# expect:
# | lldt 0: no fault
# | exception 13, error 0x00000010, eip +0
# | exception 11, error 0x00000040, eip +0
# | done
.include "conf.inc"
main:
    xor eax, eax
    lldt ax
    PRINT "lldt 0: no fault\n"
    mov ax, KERNEL_DS
    MARK 1f
    RESUME 2f
1:  lldt ax
2:  mov edi, offset gdt + GDT_SPARE
    mov eax, offset gdt
    mov ebx, 0x7
    mov cx, 0x0002                      # LDT type, P=0
    call mkdesc
    mov ax, GDT_SPARE
    MARK 3f
    RESUME 4f
3:  lldt ax
4:  PRINT "done\n"
    EXIT 0

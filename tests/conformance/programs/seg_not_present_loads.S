# title: loading DS with a not-present data descriptor: #NP(sel); loading SS with it: #SS(sel)
# sdm: vol. 2A MOV ("IF segment not marked present THEN #NP(selector)"; for SS: "#SS(selector)")
# expect:
# | exception 11, error 0x00000040, eip +0
# | exception 12, error 0x00000040, eip +0
# | done
.include "conf.inc"
main:
    mov edi, offset gdt + GDT_SPARE
    xor eax, eax
    mov ebx, 0xFFFFF
    mov cx, 0xC13                       # data, writable, P=0
    call mkdesc
    mov ax, GDT_SPARE | KERNEL_RPL          # (SS takes only a selector of RPL = CPL)
    MARK 1f
    RESUME 2f
1:  mov ds, ax
2:  MARK 3f
    RESUME 4f
3:  mov ss, ax
4:  PRINT "done\n"
    EXIT 0

# title: far CALL from ring 3 to a DPL-0 conforming code segment: allowed, CPL stays 3 (CS RPL 3)
# sdm: vol. 3A 5.8.1.2 "Accessing Conforming Code Segments"; vol. 2A CALL (conforming: DPL <= CPL; "CS(RPL) <- CPL")
# expect:
# | in conforming code: cs = 0x00000043
# | back
.include "conf.inc"
main:
    mov edi, offset gdt + GDT_SPARE
    xor eax, eax
    mov ebx, 0xFFFFF
    mov cx, 0xC9E                       # code, conforming, readable, DPL 0
    call mkdesc
    TO_RING3 user
user:
    lcall GDT_SPARE, offset conf_fn
    UPRINT "back\n"
    mov eax, 3
    int 0x80
conf_fn:
    xor ecx, ecx
    mov cx, cs
    USHOW "in conforming code: cs = ", ecx
    lret

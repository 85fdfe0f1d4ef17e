# title: LTR: a null selector #GP(0); the busy current TSS #GP(sel); a code selector #GP(sel); an available TSS loads and becomes busy (type 9 -> 11)
# sdm: vol. 2A LTR ("#GP(0) if the source operand contains a NULL segment selector"; "#GP(selector) if ... the TSS is marked busy ... or does not point to a TSS"); vol. 3A 8.2.2? (TSS descriptor busy flag)
# diverges: trap_emulate STR at ring 1 reads the real task register (a virtualization hole)
# paravirt: n/a LTR and TSS descriptors: the TSS is the hypervisor's (a PV kernel gives its stack with stack_switch; set_gdt takes no system descriptor)
# expect:
# | exception 13, error 0x00000000, eip +0
# | exception 13, error 0x00000038, eip +0
# | exception 13, error 0x00000008, eip +0
# | access before = 0x00000089
# | access after = 0x0000008b
# | tr = 0x00000040
.include "conf.inc"
main:
    xor eax, eax
    MARK 1f
    RESUME 2f
1:  ltr ax
2:  mov ax, TSS_SELECTOR
    MARK 3f
    RESUME 4f
3:  ltr ax
4:  mov ax, KERNEL_CS
    MARK 5f
    RESUME 6f
5:  ltr ax
6:  mov edi, offset gdt + GDT_SPARE
    mov eax, offset tss
    mov ebx, 0x67
    mov cx, 0x0089
    call mkdesc
    movzx eax, byte ptr [gdt + GDT_SPARE + 5]
    SHOW "access before = ", eax
    mov ax, GDT_SPARE
    ltr ax
    movzx eax, byte ptr [gdt + GDT_SPARE + 5]
    SHOW "access after = ", eax
    xor eax, eax
    str ax
    SHOW "tr = ", eax
    EXIT 0

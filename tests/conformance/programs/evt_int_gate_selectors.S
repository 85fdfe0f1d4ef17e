# title: INT n through gates with a null selector (#GP(0)), a selector past the GDT (#GP(sel)), a data segment (#GP(sel)), a not-present code segment (#NP(sel))
# sdm: vol. 2A INT n operation (the new code-segment checks, EXT=0 for INT n)
# paravirt: n/a the code selectors of IDT gates: a PV kernel has no IDT (the hypervisor, not the CPU's gate checks, judges a trap-table entry's CS)
# expect:
# | exception 13, error 0x00000000, eip +0
# | exception 13, error 0x00000100, eip +0
# | exception 13, error 0x00000010, eip +0
# | exception 11, error 0x00000040, eip +0
# | done
.include "conf.inc"
main:
    mov edi, offset gdt + GDT_SPARE     # 0x40: a ring-0 code segment with P=0
    xor eax, eax
    mov ebx, 0xFFFFF
    mov cl, 0x1A
    mov ch, 0xC
    call mkdesc
    SET_GATE idt, 0x41, main, 0x8E
    mov word ptr [idt + 0x41 * 8 + 2], 0
    SET_GATE idt, 0x42, main, 0x8E
    mov word ptr [idt + 0x42 * 8 + 2], 0x100
    SET_GATE idt, 0x43, main, 0x8E
    mov word ptr [idt + 0x43 * 8 + 2], KERNEL_DS
    SET_GATE idt, 0x44, main, 0x8E
    mov word ptr [idt + 0x44 * 8 + 2], GDT_SPARE
    MARK 1f
    RESUME 2f
1:  int 0x41
2:  MARK 3f
    RESUME 4f
3:  int 0x42
4:  MARK 5f
    RESUME 6f
5:  int 0x43
6:  MARK 7f
    RESUME 8f
7:  int 0x44
8:  PRINT "done\n"
    EXIT 0

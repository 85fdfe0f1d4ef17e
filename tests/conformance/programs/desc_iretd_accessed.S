# title: an IRETD to a code segment whose Accessed bit is clear sets it in the GDT (same ring)
# sdm: vol. 3A 3.4.5.1 (type field, accessed bit: "the processor sets this bit ... when it loads a segment selector for the segment into a segment register"); vol. 2A IRET (return to the same privilege level loads CS)
# paravirt: n/a prints the access byte of a DPL-0 descriptor: a PV kernel's are DPL 1 (0xbb, not 0x9b), in the GDT the hypervisor installed with set_gdt
# expect:
# | access before = 0x0000009a
# | access after = 0x0000009b
# | again = 0x0000009b
.include "conf.inc"
main:
    mov edi, offset gdt + GDT_SPARE
    xor eax, eax
    mov ebx, 0xFFFFF
    mov cx, 0xC9A
    call mkdesc
    movzx eax, byte ptr [gdt + GDT_SPARE + 5]
    SHOW "access before = ", eax
    pushfd
    push GDT_SPARE
    push offset 1f
    iretd
1:  ljmp KERNEL_CS, offset 2f
2:  movzx eax, byte ptr [gdt + GDT_SPARE + 5]
    SHOW "access after = ", eax
    pushfd                              # the bit set already: nothing for the check to do
    push GDT_SPARE
    push offset 3f
    iretd
3:  ljmp KERNEL_CS, offset 4f
4:  movzx eax, byte ptr [gdt + GDT_SPARE + 5]
    SHOW "again = ", eax
    EXIT 0

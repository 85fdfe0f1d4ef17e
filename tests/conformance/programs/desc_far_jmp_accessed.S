# title: a far JMP to a code segment whose Accessed bit is clear sets it in the GDT
# sdm: vol. 3A 3.4.5.1 (type field, accessed bit: "the processor sets this bit ... when it loads a segment selector for the segment into a segment register")
# paravirt: n/a prints the access byte of a DPL-0 descriptor: a PV kernel's are DPL 1 (0xbb, not 0x9b), in the GDT the hypervisor installed with set_gdt
# expect:
# | access before = 0x0000009a
# | access after = 0x0000009b
.include "conf.inc"
main:
    mov edi, offset gdt + GDT_SPARE
    xor eax, eax
    mov ebx, 0xFFFFF
    mov cx, 0xC9A
    call mkdesc
    movzx eax, byte ptr [gdt + GDT_SPARE + 5]
    SHOW "access before = ", eax
    ljmp GDT_SPARE, offset 1f
1:  ljmp KERNEL_CS, offset 2f
2:  movzx eax, byte ptr [gdt + GDT_SPARE + 5]
    SHOW "access after = ", eax
    EXIT 0

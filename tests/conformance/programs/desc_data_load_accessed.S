# title: MOV ES and MOV SS set the Accessed bit of the loaded data descriptors
# sdm: vol. 3A 3.4.5.1 (accessed bit), 3.4.3
# paravirt: n/a prints the access byte of DPL-0 descriptors: a PV kernel's are DPL 1 (0xb3, not 0x93), in the GDT the hypervisor installed with set_gdt
# expect:
# | es descriptor = 0x00000093
# | ss descriptor = 0x00000093
.include "conf.inc"
main:
    mov edi, offset gdt + GDT_SPARE
    xor eax, eax
    mov ebx, 0xFFFFF
    mov cx, 0xC92
    call mkdesc
    add edi, 8
    call mkdesc
    mov ax, GDT_SPARE
    mov es, ax
    mov ax, GDT_SPARE + 8
    mov ss, ax
    mov ax, KERNEL_DS
    mov es, ax
    mov ss, ax
    movzx eax, byte ptr [gdt + GDT_SPARE + 5]
    SHOW "es descriptor = ", eax
    movzx eax, byte ptr [gdt + GDT_SPARE + 8 + 5]
    SHOW "ss descriptor = ", eax
    EXIT 0

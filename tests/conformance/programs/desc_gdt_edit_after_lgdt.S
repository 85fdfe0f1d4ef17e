# title: a descriptor written into the live GDT after LGDT is used by the next segment load (descriptors are read from memory at load time)
# sdm: vol. 3A 3.4.3 ("... the processor loads the hidden part from the descriptor table when the selector is loaded"), 3.5.1 (GDTR holds only base and limit)
# paravirt: n/a a store into the live GDT after LGDT: a PV kernel's GDT is the hypervisor's validated copy (changes go through set_gdt, Xen's update_descriptor)
# expect:
# | loaded 0x40: es = 0x00000040
.include "conf.inc"
main:
    mov dword ptr [gdt + GDT_SPARE], 0x0000FFFF         # flat ring-0 data, written by hand
    mov dword ptr [gdt + GDT_SPARE + 4], 0x00CF9200
    mov ax, GDT_SPARE
    mov es, ax
    xor eax, eax
    mov ax, es
    SHOW "loaded 0x40: es = ", eax
    EXIT 0

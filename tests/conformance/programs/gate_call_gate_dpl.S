# title: far CALL from ring 3 through a DPL-0 call gate: #GP(gate selector)
# sdm: vol. 3A 5.8.4 (CPL <= gate DPL required); vol. 2A CALL ("IF call gate DPL < CPL or RPL THEN #GP(call-gate selector)")
# paravirt: n/a a call gate in the GDT: vlab's set_gdt takes no system descriptor (Xen emulates call gates instead)
# expect:
# | exception 13, error 0x00000040, eip +0, ring 3
# | done
.include "conf.inc"
main:
    mov edi, offset gdt + GDT_SPARE
    mov eax, offset main
    mov bx, KERNEL_CS
    mov cx, 0x008C
    call mkgate
    lgdt [gdt_desc]
    MARK 1f
    RESUME 2f
    TO_RING3 user
user:
1:  lcall GDT_SPARE | 3, 0
2:  UPRINT "done\n"
    mov eax, 3
    int 0x80

# title: MOV CR4 setting a reserved bit (15, then 31): #GP(0) each time
# sdm: vol. 3A 2.5 (CR4 bit 15 and bits 31:26? are reserved), 2.7? ; vol. 2A MOV CR ("#GP(0) if an attempt is made to write a 1 to any reserved bit in CR4")
# paravirt: n/a MOV to CR4: the control registers are the hypervisor's
# expect:
# | exception 13, error 0x00000000, eip +0
# | exception 13, error 0x00000000, eip +0
# | done
.include "conf.inc"
main:
    mov eax, cr4
    or eax, 1 << 15
    MARK 1f
    RESUME 2f
1:  mov cr4, eax
2:  mov eax, cr4
    or eax, 1 << 31
    MARK 3f
    RESUME 4f
3:  mov cr4, eax
4:  PRINT "done\n"
    EXIT 0

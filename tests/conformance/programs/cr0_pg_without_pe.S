# title: MOV CR0 with PG=1 and PE=0: #GP(0), CR0 unchanged
# sdm: vol. 2A MOV CR ("#GP(0) if an attempt is made to set PG while PE is clear"); vol. 3A 2.5
# paravirt: n/a MOV to CR0: the control registers are the hypervisor's (paging is the PV MMU's: mmuext_op)
# expect:
# | exception 13, error 0x00000000, eip +0
# | CR0.PG,PE = 0x00000001
.include "conf.inc"
main:
    mov eax, cr0
    and eax, ~1
    or eax, 0x80000000
    MARK 1f
    RESUME 2f
1:  mov cr0, eax
2:  mov eax, cr0
    and eax, 0x80000001
    SHOW "CR0.PG,PE = ", eax
    EXIT 0

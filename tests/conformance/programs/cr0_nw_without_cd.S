# title: MOV CR0 with NW=1 and CD=0: #GP(0)
# sdm: vol. 2A MOV CR ("#GP(0) if an attempt is made to set ... NW while CD is clear"); vol. 3A 2.5
# paravirt: n/a MOV to CR0: the control registers are the hypervisor's
# expect:
# | exception 13, error 0x00000000, eip +0
# | CR0.CD,NW = 0x00000000
.include "conf.inc"
main:
    mov eax, cr0
    and eax, ~0x60000000                # CD=0, NW=0
    mov cr0, eax
    or eax, 0x20000000                  # NW=1, CD=0
    MARK 1f
    RESUME 2f
1:  mov cr0, eax
2:  mov eax, cr0
    and eax, 0x60000000
    SHOW "CR0.CD,NW = ", eax
    EXIT 0

# title: CR0.ET (bit 4) reads 1 whatever is written (P6 family and later)
# sdm: vol. 3A 2.5 ("ET Extension Type (bit 4) ... In the Pentium 4, Intel Xeon, and P6 family processors, this flag is hardcoded to 1")
# paravirt: n/a MOV to CR0: the control registers are the hypervisor's
# expect:
# | CR0.ET after writing 0 = 0x00000010
.include "conf.inc"
main:
    mov eax, cr0
    and eax, ~0x10
    mov cr0, eax
    mov eax, cr0
    and eax, 0x10
    SHOW "CR0.ET after writing 0 = ", eax
    EXIT 0

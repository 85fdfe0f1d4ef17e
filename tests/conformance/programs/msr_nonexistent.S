# title: RDMSR and WRMSR of a non-existent MSR: #GP(0); RDMSR at ring 3: #GP(0)
# sdm: vol. 2B RDMSR, WRMSR ("#GP(0) if the value in ECX specifies a reserved or unimplemented MSR address"; "if the current privilege level is not 0")
# paravirt: n/a RDMSR/WRMSR of a non-existent MSR: MSRs are the hypervisor's (vlab's emulates none: a PV kernel's #GP would come from its ring, not from the MSR number)
# expect:
# | exception 13, error 0x00000000, eip +0
# | exception 13, error 0x00000000, eip +0
# | exception 13, error 0x00000000, eip +0, ring 3
# | done
.include "conf.inc"
main:
    mov ecx, 0x12345678
    MARK 1f
    RESUME 2f
1:  rdmsr
2:  xor eax, eax
    xor edx, edx
    MARK 3f
    RESUME 4f
3:  wrmsr
4:  MARK 5f
    RESUME 6f
    TO_RING3 user
user:
    mov ecx, 0x277
5:  rdmsr
6:  UPRINT "done\n"
    mov eax, 3
    int 0x80

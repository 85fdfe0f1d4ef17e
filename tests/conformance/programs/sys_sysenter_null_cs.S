# title: SYSENTER with IA32_SYSENTER_CS = 0: #GP(0); SYSEXIT at CPL 3: #GP(0)
# sdm: vol. 2B SYSENTER ("IF IA32_SYSENTER_CS[15:2] = 0 THEN #GP(0)"), SYSEXIT ("IF IA32_SYSENTER_CS[15:2] = 0 OR CPL != 0 THEN #GP(0)")
# paravirt: n/a SYSENTER/SYSEXIT set up with WRMSR: MSRs and ring 0 are the hypervisor's
# expect:
# | exception 13, error 0x00000000, eip +0
# | exception 13, error 0x00000000, eip +0, ring 3
# | done
.include "conf.inc"
main:
    mov ecx, 0x174
    xor edx, edx
    xor eax, eax
    wrmsr
    MARK 1f
    RESUME 2f
1:  sysenter
2:  mov ecx, 0x174
    xor edx, edx
    mov eax, KERNEL_CS
    wrmsr
    MARK 3f
    RESUME 4f
    TO_RING3 user
user:
3:  sysexit
4:  UPRINT "done\n"
    mov eax, 3
    int 0x80

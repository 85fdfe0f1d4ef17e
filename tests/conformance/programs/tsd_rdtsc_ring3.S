# title: RDTSC at ring 3 with CR4.TSD=1: #GP(0); with TSD=0 it runs; at ring 0 it runs with TSD=1
# sdm: vol. 2B RDTSC ("#GP(0) if the TSD flag in CR4 is set and the CPL is greater than 0"); vol. 3A 2.5 (CR4.TSD)
# paravirt: n/a CR4.TSD, and RDTSC at ring 0: CR4 and ring 0 are the hypervisor's
# expect:
# | ring 0, TSD=1: rdtsc ran
# | exception 13, error 0x00000000, eip +0, ring 3
# | ring 3, TSD=0: rdtsc ran
.include "conf.inc"
main:
    mov eax, cr4
    or eax, 0x4
    mov cr4, eax
    rdtsc
    PRINT "ring 0, TSD=1: rdtsc ran\n"
    MARK 1f
    RESUME 2f
    TO_RING3 user
user:
1:  rdtsc
2:  UBACK k
k:  mov eax, cr4
    and eax, ~0x4
    mov cr4, eax
    TO_RING3 user2
user2:
    rdtsc
    UPRINT "ring 3, TSD=0: rdtsc ran\n"
    mov eax, 3
    int 0x80

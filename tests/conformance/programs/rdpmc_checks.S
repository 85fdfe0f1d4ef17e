# title: RDPMC at ring 0 with counter 0 runs; with an invalid counter (0x1000) #GP(0); at ring 3 with CR4.PCE=0 #GP(0)
# sdm: vol. 2B RDPMC ("#GP(0) if the current privilege level is not 0 and the PCE flag in CR4 is clear"; "if the value in ECX ... is not a valid counter")
# paravirt: n/a CR4.PCE, and RDPMC at ring 0: CR4 and ring 0 are the hypervisor's
# expect:
# | counter 0: no fault
# | exception 13, error 0x00000000, eip +0
# | exception 13, error 0x00000000, eip +0, ring 3
# | done
.include "conf.inc"
main:
    mov eax, cr4
    and eax, ~0x100
    mov cr4, eax
    xor ecx, ecx
    rdpmc
    PRINT "counter 0: no fault\n"
    mov ecx, 0x1000
    MARK 1f
    RESUME 2f
1:  rdpmc
2:  MARK 3f
    RESUME 4f
    TO_RING3 user
user:
    xor ecx, ecx
3:  rdpmc
4:  UPRINT "done\n"
    mov eax, 3
    int 0x80

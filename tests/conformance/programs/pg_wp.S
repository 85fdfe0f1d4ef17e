# title: a supervisor write to a read-only page: with CR0.WP=0 it succeeds; with WP=1 it is #PF, error code 3 (P, W/R), CR2 = the address
# sdm: vol. 3A 2.5 (CR0.WP), 4.6 "Access Rights" (supervisor writes), 4.7 "Page-Fault Exceptions" (error code, CR2)
# paravirt: n/a CR0.WP: CR0 is the hypervisor's (it runs a PV kernel with WP=1)
# expect:
# | WP=0: value = 0x00000011
# | exception 14, error 0x00000003, eip +0
# | cr2 = 0x00350000
# | value still = 0x00000011
.include "conf.inc"
.include "paging.inc"
main:
    mov eax, cr0
    and eax, ~0x10000
    mov cr0, eax
    call paging_on
    and dword ptr [pt0 + 0x350 * 4], ~0x2   # 0x350000: read-only
    invlpg [0x350000]
    mov dword ptr [0x350000], 0x11
    SHOW "WP=0: value = ", [0x350000]
    mov eax, cr0
    or eax, 0x10000
    mov cr0, eax
    MARK 1f
    RESUME 2f
1:  mov dword ptr [0x350000], 0x22
2:  mov eax, cr2
    SHOW "cr2 = ", eax
    SHOW "value still = ", [0x350000]
    EXIT 0

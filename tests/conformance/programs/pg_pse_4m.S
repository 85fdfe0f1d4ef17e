# title: with CR4.PSE=1 a PDE with PS=1 maps a 4-MiB page: linear 0x400000 + x reads physical x
# sdm: vol. 3A 4.3 "32-Bit Paging" (table 4-4: PDE that maps a 4-MByte page), 2.5 (CR4.PSE)
# paravirt: n/a CR4.PSE (4-MiB pages): CR4 is the hypervisor's, and PV page tables have no superpages
# expect:
# | through the 4 MiB page = 0xcafef00d
.include "conf.inc"
.include "paging.inc"
main:
    mov eax, cr4
    or eax, 0x10
    mov cr4, eax
    mov dword ptr [pd + 4], 0x00000083      # PDE 1: 4 MiB page at physical 0, P, R/W, PS
    call paging_on
    mov dword ptr [0x321000], 0xCAFEF00D
    SHOW "through the 4 MiB page = ", [0x721000]
    EXIT 0

# title: #PF error codes and CR2: supervisor read of a not-present page (0), supervisor write (2), user read of a supervisor page (5), user write to a read-only user page (7)
# sdm: vol. 3A 4.7 "Page-Fault Exceptions" (error code bits P, W/R, U/S; CR2 holds the linear address), 6.15 "Interrupt 14"
# expect:
# | exception 14, error 0x00000000, eip +0
# | cr2 = 0x00351000
# | exception 14, error 0x00000002, eip +0
# | cr2 = 0x00352004
# | exception 14, error 0x00000005, eip +0, ring 3
# | exception 14, error 0x00000007, eip +0, ring 3
# | cr2 = 0x00354008
.include "conf.inc"
.include "paging.inc"
main:
    call paging_on
    PTE_AND "pt0 + 0x351 * 4", ~0x1           # not present
    PTE_AND "pt0 + 0x352 * 4", ~0x1
    PTE_AND "pt0 + 0x353 * 4", ~0x4           # supervisor only
    PTE_AND "pt0 + 0x354 * 4", ~0x2           # read-only (user)
    FLUSH_TLB
    MARK 1f
    RESUME 2f
1:  mov eax, [0x351000]
2:  READ_CR2 eax
    SHOW "cr2 = ", eax
    MARK 3f
    RESUME 4f
3:  mov dword ptr [0x352004], 1
4:  READ_CR2 eax
    SHOW "cr2 = ", eax
    MARK 5f
    RESUME 6f
    TO_RING3 user
user:
5:  mov eax, [0x353000]
6:  MARK 7f
    RESUME 8f
7:  mov dword ptr [0x354008], 1
8:  UBACK k
k:  READ_CR2 eax
    SHOW "cr2 = ", eax
    EXIT 0

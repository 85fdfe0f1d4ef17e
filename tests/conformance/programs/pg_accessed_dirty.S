# title: the CPU sets a PTE's Accessed bit on a read and its Dirty bit on a write
# sdm: vol. 3A 4.8 "Accessed and Dirty Flags"
# expect:
# | fresh: A,D = 0x00000000
# | after a read: A,D = 0x00000020
# | after a write: A,D = 0x00000060
.include "conf.inc"
.include "paging.inc"
main:
    call paging_on
    PTE_AND "pt0 + 0x390 * 4", ~0x60
    FLUSH_PAGE 0x390000
    mov eax, [pt0 + 0x390 * 4]
    and eax, 0x60
    SHOW "fresh: A,D = ", eax
    mov eax, [0x390000]
    mov eax, [pt0 + 0x390 * 4]
    and eax, 0x60
    SHOW "after a read: A,D = ", eax
    mov dword ptr [0x390000], 1
    mov eax, [pt0 + 0x390 * 4]
    and eax, 0x60
    SHOW "after a write: A,D = ", eax
    EXIT 0

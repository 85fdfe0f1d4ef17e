# title: self-modifying code through another linear alias: a store through 0x400000 changes the code fetched at 0x3A0000 (the same frame)
# sdm: vol. 3A 11.6 "Self-Modifying Code" (the check is on physical addresses; a jump after the store), 4.3
# expect:
# | first call: eax = 0x00000001
# | after the store through the alias: eax = 0x00000002
.include "conf.inc"
.include "paging.inc"
main:
    call paging_on
.ifdef PV
    mov eax, offset pt1                     # (the hypervisor writes only a page table's entry:
    or eax, 0x7                             # pt1 is linked into pd before its entry is set)
    PTE_SET "pd + 4", eax
    PTE_SET pt1, 0x3A0007                   # linear 0x400000 -> frame 0x3A0000
.else
    mov dword ptr [pt1], 0x3A0007           # linear 0x400000 -> frame 0x3A0000
    mov eax, offset pt1
    or eax, 0x7
    mov [pd + 4], eax
.endif
    mov byte ptr [0x3A0000], 0xB8           # mov eax, 1; ret
    mov dword ptr [0x3A0001], 1
    mov byte ptr [0x3A0005], 0xC3
    mov eax, 0x3A0000
    call eax
    SHOW "first call: eax = ", eax
    mov dword ptr [0x400001], 2             # the immediate, through the alias
    mov eax, 0x3A0000
    call eax
    SHOW "after the store through the alias: eax = ", eax
    EXIT 0

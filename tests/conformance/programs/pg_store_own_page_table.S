# title: code stores into the page table that maps that very code (remapping another page), then INVLPG: the new mapping is used
# sdm: vol. 3A 4.10.4.1 (INVLPG), 4.10.2 (TLB), 4.3 (page-table entries are ordinary memory)
# paravirt: n/a a plain store into the live page table that maps the code: a PV kernel's page tables are read-only to it (every change is an mmu_update the hypervisor validates)
# expect:
# | before: 0x00000aaa
# | after: 0x00000bbb
.include "conf.inc"
.include "paging.inc"
main:
    call paging_on
    mov dword ptr [0x360000], 0xAAA
    mov dword ptr [0x370000], 0xBBB
    SHOW "before: ", [0x360000]
    mov dword ptr [pt0 + 0x360 * 4], 0x370007   # pt0 also maps this code (0x100000...)
    invlpg [0x360000]
    SHOW "after: ", [0x360000]
    EXIT 0

# title: a store into the active page directory makes PDE 1 present; the next access through it uses it (not-present entries are never cached)
# sdm: vol. 3A 4.10.2.3? ("the processor does not cache a translation for a page number unless the present flag is 1 in all of the paging-structure entries"), 4.10.4.3
# paravirt: n/a a plain store into the live page directory: a PV kernel's page tables are read-only to it (every change is an mmu_update the hypervisor validates)
# expect:
# | through the new PDE: 0x00000ccc
.include "conf.inc"
.include "paging.inc"
main:
    call paging_on
    mov dword ptr [0x380000], 0xCCC
    mov dword ptr [pt1], 0x380007           # pt1[0] -> physical 0x380000
    mov eax, offset pt1
    or eax, 0x7
    mov [pd + 4], eax                       # PDE 1 (linear 0x400000) -> pt1
    SHOW "through the new PDE: ", [0x400000]
    EXIT 0

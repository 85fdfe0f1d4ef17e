# nanobenchmark ptemod: the kernel modifies a page-table entry of its live page tables, ITERATIONS times
# Adams & Agesen, ASPLOS 2006, sec. 6, figure 4 ("ptemod"). Paging is on; each iteration flips
# a bit left to the OS (bit 9) in the entry of pt1 that maps LIVE_PAGE, with one MOV, as Linux's
# set_pte does, and then uses the page it maps. Natively that is a store. A shadow-paging
# monitor (software, or VT-x without EPT) has write-protected pt1 once it built a shadow from it,
# so the store traps (or, once a translator has adapted, calls out), and the use after it
# refills the shadow; with EPT the tables are the guest's own and nothing exits. The mapping
# itself never changes, so no TLB flush is needed (nor done).
# Built with --defsym PV=1 (nano-ptemod-pv): pt1 is read-only to the kernel, which asks for the
# change with mmu_update (Xen's {ptr, val} request), validated by the hypervisor.
.include "nano.inc"
.section .text
.globl _start
_start:
    NANO_BOOT
    NANO_PAGING
    mov ecx, ITERATIONS
1:  mov eax, [pt1]                      # the PTE that maps LIVE_PAGE
    xor eax, PTE_AVL0
.ifdef PV
    mov [pte_req + 8], eax              # {u64 ptr = pt1 (machine address), u64 val}
    push ecx
    mov eax, __HYPERVISOR_mmu_update
    mov ebx, offset pte_req
    mov ecx, 1
    xor edx, edx
    mov esi, DOMID_SELF
    int HYPERCALL_VECTOR
    pop ecx
    test eax, eax
    jnz nano_wrong
.else
pte_store:
    mov [pt1], eax                      # the operation measured: a store into a live table
.endif
    mov edx, [LIVE_PAGE]                # use the page that entry maps
    inc dword ptr [updates]
    loop 1b
    mov eax, [pt1]                      # the bit is set after an odd number of flips
    and eax, PTE_AVL0
    cmp eax, (ITERATIONS & 1) * PTE_AVL0
    jne nano_wrong
    NANO_DONE updates
.include "lib.inc"
.section .data
.align 8
.ifdef PV
pte_req:  .long pt1, 0, 0, 0
trap_table:
    TRAP 14, 0, unexpected
    TRAP 13, 0, unexpected
    .long 0, 0
.endif
updates: .long 0
    NANO_DATA

# A hostile paravirtual guest: it builds page tables, has them pinned, then tries every way to map
# memory it must not. Results of the refused calls go to `results`; then it writes its own page
# directory directly, which must fault (the directory is read-only to it).
.include "vlab.inc"

.section .text
.globl _start
_start:
    jmp 1f
    .ascii "VLAB-PV1"
1:
    mov esp, 0x90000
    mov eax, __HYPERVISOR_set_trap_table
    mov ebx, offset traps
    int HYPERCALL_VECTOR
    # identity map 0-4 MiB, the two table frames read-only
    xor ecx, ecx
2:  mov eax, ecx
    shl eax, 12
    or eax, 3
    mov edx, ecx
    shl edx, 12
    cmp edx, offset pd
    je 3f
    cmp edx, offset pt
    jne 4f
3:  and eax, ~2
4:  mov [pt + ecx * 4], eax
    inc ecx
    cmp ecx, 1024
    jb 2b
    mov eax, offset pt
    or eax, 3
    mov [pd], eax
    mov eax, offset pd
    shr eax, 12
    mov [op_pin + 4], eax
    mov [op_pin + 16], eax
    mov [op_unpin_current + 4], eax
    mov edi, offset results
    mov ebx, offset op_pin              # pin + load CR3: must succeed (0)
    mov ecx, 2
    call ext
    mov ebx, offset upd_monitor         # map the hypervisor's own frame: -EPERM
    call update
    mov ebx, offset upd_outside         # map a frame beyond the guest's RAM: -EPERM
    call update
    mov ebx, offset upd_pt_writable     # map its own page table writable: -EINVAL
    call update
    mov ebx, offset upd_top_pde         # take the hypervisor's top PDE: -EPERM
    call update
    mov ebx, offset upd_not_table       # "update" a frame that is no page table: -EINVAL
    call update
    mov ebx, offset upd_ok              # map page 0 read-only: allowed (0)
    call update
    mov ebx, offset op_unpin_current    # unpin the directory in use: -EINVAL
    mov ecx, 1
    call ext
    mov byte ptr [done], 1
    mov dword ptr [pd + 4], 0x12345007  # a direct write to the directory: a page fault
    mov eax, __HYPERVISOR_sched_op      # (never reached)
    mov ebx, SCHEDOP_shutdown
    mov ecx, 9
    int HYPERCALL_VECTOR

ext:                                    # mmuext_op(ebx, ecx): result stored at edi
    mov eax, __HYPERVISOR_mmuext_op
    xor edx, edx
    mov esi, DOMID_SELF
    int HYPERCALL_VECTOR
    stosd
    ret
update:                                 # mmu_update(ebx, 1)
    mov eax, __HYPERVISOR_mmu_update
    mov ecx, 1
    xor edx, edx
    mov esi, DOMID_SELF
    int HYPERCALL_VECTOR
    stosd
    ret

pf_handler:                             # the guest's own #PF handler: record CR2, stop
    mov eax, [SHARED_CR2]
    mov [fault_cr2], eax
    mov eax, [esp]
    mov [fault_code], eax
    mov eax, __HYPERVISOR_sched_op
    mov ebx, SCHEDOP_shutdown
    mov ecx, 0
    int HYPERCALL_VECTOR

.section .data
.align 8
traps:
    .byte 14, 4
    .word RING1_CS
    .long pf_handler
    .long 0, 0
op_pin:
    .long MMUEXT_PIN_L2_TABLE, 0, 0
    .long MMUEXT_NEW_BASEPTR, 0, 0
op_unpin_current:
    .long MMUEXT_UNPIN_TABLE, 0, 0
.align 8                                # mmu_update requests: {u64 ptr, u64 val}
upd_monitor:     .long pt + 8, 0, 0xFFFF0003, 0
upd_outside:     .long pt + 8, 0, 0x40000003, 0
upd_pt_writable: .long pt + 8, 0, pt + 3, 0
upd_top_pde:     .long pd + 4 * 1023, 0, pt + 1, 0
upd_not_table:   .long 0x3000, 0, 0x5003, 0
upd_ok:          .long pt, 0, 0x00000001, 0
results:         .space 4 * 8
done:            .long 0
fault_cr2:       .long 0
fault_code:      .long 0
.balign 4096
pd:              .space 4096
pt:              .space 4096

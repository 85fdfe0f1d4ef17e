# The vlab paging kernel: the teaching kernel's memory chapter.
#
# It does with its page tables what a real kernel does, so that memory virtualization has
# something to get right:
#   - builds a page directory and an identity-mapped kernel page table (supervisor only; page 0 is
#     left unmapped to catch null pointers; the user code page is user-readable, read-only), turns
#     on 32-bit paging (CR0.PG, CR0.WP) and loads CR3;
#   - gives each of two ring-3 tasks its own address space (its own page directory and user page
#     table at 0x40000000: stack, heap), and switches CR3 on every task switch (system call yield);
#   - handles #PF: a touch of a task's heap maps a fresh zeroed frame (demand-zero), anything else
#     from ring 3 kills the task cleanly (its address space is torn down), a fault in the kernel
#     stops the machine;
#   - unmaps a heap page on request (system call unmap) and flushes it with INVLPG;
#   - then runs a "fork-like" loop: create an address space, fill its pages, switch into it,
#     touch them, switch back, tear it down — FORK_ROUNDS times (the page-table-heavy workload).
# Its console report is the same under every faithful strategy.
#
# Built with --defsym FORKWAIT=1 (guests "forkwait", "forkwait-pv") it runs only the fork-like loop,
# 200 rounds, and prints one line: the page-table-heavy benchmark (after the forkwait
# microbenchmark of Adams & Agesen, ASPLOS 2006).
#
# Built with --defsym PV=1 (guest "paging-pv") it is the paravirtual kernel: its page tables are
# read-only to it (the hypervisor validates every update: mmu_update, mmuext_op, batched with
# multicall), CR3 is loaded by the hypervisor (MMUEXT_NEW_BASEPTR), INVLPG is MMUEXT_INVLPG_LOCAL
# and the faulting address of a #PF comes from the shared-info page (it cannot read CR2).

.include "vlab.inc"
.include "kernel.inc"

.set USER_BASE,      0x40000000         # every task's private space starts here (PDE 256)
.set USER_PDE,       USER_BASE >> 22
.set USER_STACK_TOP, 0x40002000         # one stack page at 0x40001000
.set USER_HEAP,      0x40010000         # demand-zero heap: 16 pages
.set USER_HEAP_END,  0x40020000
.set POOL_START,     0x200000           # frames for page tables and user pages
.set POOL_END,       0x400000
.set POOL_FRAMES,    (POOL_END - POOL_START) >> 12
.set NTASKS,         2
.ifdef FORKWAIT
.set FORK_ROUNDS,    200                # the forkwait build: nothing but the fork-like loop
.else
.set FORK_ROUNDS,    24
.endif
.set FORK_PAGES,     4
.set PTE_P, 1
.set PTE_W, 2
.set PTE_U, 4
# Task table entries: CR3, state (0 dead, 1 runnable), user page table, saved frame (pushad + iret).
.set T_CR3, 0
.set T_STATE, 4
.set T_PT, 8
.set T_FRAME, 12
.set T_SIZE, 64
.set FRAME_DWORDS, 13                   # pushad (8) + EIP, CS, EFLAGS, ESP, SS
.set SYS_REPORT, 1                      # ebx = value, ecx = label number: "task X: <label><value>"
.set SYS_YIELD, 2
.set SYS_UNMAP, 3                       # ebx = a heap address
.set SYS_EXIT, 4
.set LABELS, 5                          # report labels (kernel strings, chosen by number)
.set GDT_ENTRIES, 8

# PV_CALL number, buffer, count: a hypercall that takes a request buffer (mmu_update,
# mmuext_op: buffer, count, done = 0, DOMID_SELF), every register but EAX preserved.
.macro PV_CALL number, buffer, count
    push ebx
    push ecx
    push edx
    push esi
    mov eax, \number
    mov ebx, offset \buffer
    mov ecx, \count
    xor edx, edx
    mov esi, DOMID_SELF
    int HYPERCALL_VECTOR
    pop esi
    pop edx
    pop ecx
    pop ebx
.endm

# Load CR3 with the page directory at \reg (the hypervisor does it for a paravirtual kernel).
.macro SET_CR3 reg
.ifdef PV
    push eax
    mov eax, \reg
    shr eax, 12
    mov [mmuext_ops + 4], eax
    mov dword ptr [mmuext_ops], MMUEXT_NEW_BASEPTR
    PV_CALL __HYPERVISOR_mmuext_op, mmuext_ops, 1
    pop eax
.else
    mov cr3, \reg
.endif
.endm

# Write the page-table entry at address \ptr (a live page table) with \val.
.macro PTE_WRITE ptr, val
.ifdef PV
    push eax
    mov [mmu_reqs], \ptr
    mov dword ptr [mmu_reqs + 4], 0
    mov [mmu_reqs + 8], \val
    mov dword ptr [mmu_reqs + 12], 0
    PV_CALL __HYPERVISOR_mmu_update, mmu_reqs, 1
    pop eax
.else
    mov [\ptr], \val
.endif
.endm

.section .text
.globl _start
_start:
    PV_SIGNATURE
    mov esp, offset kernel_stack_top
.ifndef FORKWAIT
    PRINT "vlab paging kernel\n"
.endif

    # --- Segments, TSS, IDT (as the teaching kernel; see kernel.S).
    LOAD_SEGMENTS
    # DS, ES, FS, GS: the flat ring-3 data segment, in the kernel too (as Linux on i386 does):
    # an IRET to ring 3 nulls a data segment register holding a more privileged segment (SDM
    # vol. 2A, IRET), and the tasks and the kernel's handlers access memory through them.
    mov ax, USER_DS
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
.ifdef PV
    mov eax, __HYPERVISOR_multicall     # kernel stack, trap table, event callback: one entry
    mov ebx, offset boot_calls
    mov ecx, 3
    int HYPERCALL_VECTOR
.else
    mov dword ptr [tss + 4], offset kernel_stack_top
    mov dword ptr [tss + 8], KERNEL_DS
    mov word ptr [tss + 0x66], 0x68
    mov ax, TSS_SELECTOR
    ltr ax
    mov ecx, 32
    xor edx, edx
.Lfill_idt:
    mov eax, offset unexpected_exception
    mov [idt + edx * 8], ax
    mov word ptr [idt + edx * 8 + 2], KERNEL_CS
    mov byte ptr [idt + edx * 8 + 5], 0x8E
    shr eax, 16
    mov [idt + edx * 8 + 6], ax
    inc edx
    loop .Lfill_idt
    SET_GATE idt, 14, pf_handler, 0x8E
    SET_GATE idt, TIMER_VECTOR, timer_handler, 0x8E
    SET_GATE idt, SYSCALL_VECTOR, syscall_handler, 0xEE
    lidt [idt_desc]
.endif

    # --- Paging: the frame pool, the kernel's identity map, then CR0.PG.
    call pool_init
    call build_kernel_map
.ifdef PV
    mov eax, offset kernel_pd
    shr eax, 12
    mov dword ptr [mmuext_ops], MMUEXT_PIN_L2_TABLE   # the hypervisor validates our tables ...
    mov [mmuext_ops + 4], eax
    mov dword ptr [mmuext_ops + 12], MMUEXT_NEW_BASEPTR  # ... and loads CR3 (paging on)
    mov [mmuext_ops + 16], eax
    PV_CALL __HYPERVISOR_mmuext_op, mmuext_ops, 2
    test eax, eax
    jnz boot_failed
.else
    mov eax, offset kernel_pd
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80010000                  # PG | WP: the kernel honours read-only pages too
    mov cr0, eax
.endif
.ifdef FORKWAIT
    call fork_test                      # forkwait: the page-table workload alone
    EXIT 0
.endif
    PRINT "paging on: kernel identity-mapped, page 0 unmapped, user code read-only\n"

    # --- The timer ticks while the tasks run (interrupts arrive under paging too).
.ifdef PV
    mov eax, __HYPERVISOR_set_timer_op
    mov ebx, 10000
    xor ecx, ecx
    int HYPERCALL_VECTOR
.else
    mov al, 0xFE
    out PIC_DATA, al
.endif

    # --- Two tasks, each in its own address space.
    xor ebx, ebx
    call task_create
    mov ebx, 1
    call task_create
    PRINT "two tasks created, each with its own page directory\n"
    mov [kernel_resume_esp], esp
    mov esi, offset tasks
    jmp resume_task

after_tasks:                            # every task has ended: back on the kernel's own stack
    PRINT "all tasks ended\n"
    call fork_test
    PRINT "--- report ---\n"
    PRINT "demand-zero page faults: "
    mov eax, [demand_faults]
    call putdec
    call newline
    PRINT "tasks killed by page faults: "
    mov eax, [killed]
    call putdec
    call newline
    PRINT "frames free at the end: "
    mov eax, [pool_top]
    call putdec
    PRINT " of "
    mov eax, POOL_FRAMES
    call putdec
    call newline
    PRINT "kernel done\n"
    EXIT 0

boot_failed:
    PRINT "the hypervisor refused the kernel's page tables\n"
    EXIT 5

# ---------------------------------------------------------------- frames
# The pool: a stack of free frame addresses.
pool_init:
    mov eax, POOL_END - 0x1000
    xor ecx, ecx
.Lpool_fill:
    mov [pool + ecx * 4], eax
    inc ecx
    sub eax, 0x1000
    cmp eax, POOL_START
    jae .Lpool_fill
    mov [pool_top], ecx
    ret

# alloc_frame: eax = a zeroed frame (through the identity map).
alloc_frame:
    push ecx
    push edi
    mov ecx, [pool_top]
    test ecx, ecx
    jz out_of_frames
    dec ecx
    mov [pool_top], ecx
    mov eax, [pool + ecx * 4]
    push eax
    mov edi, eax
    xor eax, eax
    mov ecx, 1024
    cld
    rep stosd
    pop eax
    pop edi
    pop ecx
    ret
out_of_frames:
    PRINT "out of frames: kernel stops\n"
    EXIT 4

# free_frame: give back the frame in eax.
free_frame:
    push ecx
    mov ecx, [pool_top]
    mov [pool + ecx * 4], eax
    inc ecx
    mov [pool_top], ecx
    pop ecx
    ret

# build_kernel_map: kernel_pt maps 0-4 MiB to itself, supervisor read/write; page 0 is absent;
# the user code page is user-readable and read-only. (PV: the page-table frames are read-only.)
build_kernel_map:
    xor ecx, ecx
.Lmap_next:
    mov eax, ecx
    shl eax, 12
    mov edx, eax
    or edx, PTE_P | PTE_W
    cmp eax, offset user_text
    jb 1f
    cmp eax, offset user_text_end
    jae 1f
    mov edx, eax
    or edx, PTE_P | PTE_U               # user code: readable from ring 3, never writable
1:
.ifdef PV
    cmp eax, offset kernel_pd
    je 2f
    cmp eax, offset kernel_pt
    jne 3f
2:  and edx, ~PTE_W                     # a page table may not be writable: Xen refuses it
3:
.endif
    test ecx, ecx
    jnz 4f
    xor edx, edx                        # page 0: unmapped (null pointers fault)
4:
    mov [kernel_pt + ecx * 4], edx
    inc ecx
    cmp ecx, 1024
    jb .Lmap_next
    mov eax, offset kernel_pt
    or eax, PTE_P | PTE_W | PTE_U
    mov [kernel_pd], eax                # PDE 0: the kernel's table (PTEs decide user access)
    ret

# ---------------------------------------------------------------- address spaces
# space_create: eax = a new page directory (PDE 0 shared with the kernel), edx = its user page
# table (PDE 256). Both are plain memory until space_pin.
space_create:
    call alloc_frame
    mov edx, eax
    call alloc_frame                    # eax = pd, edx = pt
    push ecx
    mov ecx, [kernel_pd]
    mov [eax], ecx
    mov ecx, edx
    or ecx, PTE_P | PTE_W | PTE_U
    mov [eax + USER_PDE * 4], ecx
    pop ecx
    ret

# KERNEL_PT_REQS rights (PV): two mmu_update requests in mmu_reqs that set the kernel's own
# mappings of the frames at eax (a directory) and edx (a table) to frame | rights.
# Leaves edi = the directory's frame number; changes eax, ecx, edx.
.macro KERNEL_PT_REQS rights
    mov edi, eax
    shr edi, 12
    lea ecx, [kernel_pt + edi * 4]
    mov [mmu_reqs], ecx
    or eax, \rights
    mov [mmu_reqs + 8], eax
    mov ecx, edx
    shr ecx, 12
    lea ecx, [kernel_pt + ecx * 4]
    mov [mmu_reqs + 16], ecx
    or edx, \rights
    mov [mmu_reqs + 24], edx
.endm

# space_pin: eax = pd, edx = pt, filled: from now on they are live page tables. A paravirtual
# kernel maps both read-only and asks the hypervisor to validate ("pin") the directory.
space_pin:
.ifdef PV
    push eax
    push ebx
    push ecx
    push edx
    push esi
    push edi
    KERNEL_PT_REQS PTE_P                # mmu_update: our mappings of pd and pt, read-only
    mov dword ptr [mmuext_ops], MMUEXT_PIN_L2_TABLE
    mov [mmuext_ops + 4], edi
    mov dword ptr [pin_calls + 8], offset mmu_reqs   # multicall: mmu_update(2) + mmuext_op(1)
    mov dword ptr [pin_calls + 12], 2
    mov dword ptr [pin_calls + 40], offset mmuext_ops
    mov dword ptr [pin_calls + 44], 1
    mov eax, __HYPERVISOR_multicall
    mov ebx, offset pin_calls
    mov ecx, 2
    int HYPERCALL_VECTOR
    mov eax, [pin_calls + 4]
    or eax, [pin_calls + 36]
    jnz pin_failed
    pop edi
    pop esi
    pop edx
    pop ecx
    pop ebx
    pop eax
.endif
    ret
.ifdef PV
pin_failed:
    PRINT "the hypervisor refused to pin a page directory\n"
    EXIT 5
.endif

# space_destroy: eax = pd, edx = pt (not the current CR3): free every user frame, the table and
# the directory. The entries are cleared as a kernel does, so a monitor sees the writes.
space_destroy:
    push eax
    push ebx
    push ecx
    push edx
    push edi
.ifdef PV
    push eax                            # unpin, then make both frames writable again: one multicall
    push edx
    KERNEL_PT_REQS PTE_P | PTE_W        # our mappings of pd and pt, writable again
    mov dword ptr [mmuext_ops], MMUEXT_UNPIN_TABLE
    mov [mmuext_ops + 4], edi
    mov dword ptr [unpin_calls + 8], offset mmuext_ops
    mov dword ptr [unpin_calls + 12], 1
    mov dword ptr [unpin_calls + 40], offset mmu_reqs
    mov dword ptr [unpin_calls + 44], 2
    mov eax, __HYPERVISOR_multicall
    mov ebx, offset unpin_calls
    mov ecx, 2
    int HYPERCALL_VECTOR
    pop edx
    pop eax
.endif
    mov edi, edx
    xor ecx, ecx
.Ldestroy_next:
    mov ebx, [edi + ecx * 4]
    test ebx, PTE_P
    jz 1f
    push eax
    mov eax, ebx
    and eax, 0xFFFFF000
    call free_frame
    pop eax
    mov dword ptr [edi + ecx * 4], 0
1:
    inc ecx
    cmp ecx, 1024
    jb .Ldestroy_next
    mov dword ptr [eax + USER_PDE * 4], 0
    call free_frame                     # the directory
    mov eax, edx
    call free_frame                     # the table
    pop edi
    pop edx
    pop ecx
    pop ebx
    pop eax
    ret

# task_create: task ebx (0 or 1): an address space with a stack page, and a first frame that
# enters user_main in ring 3 with ebx = the task's number.
task_create:
    push esi
    push edi
    mov esi, ebx
    shl esi, 6                          # T_SIZE
    add esi, offset tasks
    call space_create
    mov [esi + T_CR3], eax
    mov [esi + T_PT], edx
    push eax
    call alloc_frame                    # the stack page at 0x40001000
    or eax, PTE_P | PTE_W | PTE_U
    mov [edx + 4], eax
    pop eax
    call space_pin
    lea edi, [esi + T_FRAME]
    push ecx
    push eax
    mov ecx, FRAME_DWORDS
    xor eax, eax
    rep stosd
    pop eax
    pop ecx
    mov [esi + T_FRAME + 16], ebx       # pushad's EBX slot
    mov dword ptr [esi + T_FRAME + 32], offset user_main
    mov dword ptr [esi + T_FRAME + 36], USER_CS
    mov dword ptr [esi + T_FRAME + 40], 0x202
    mov dword ptr [esi + T_FRAME + 44], USER_STACK_TOP
    mov dword ptr [esi + T_FRAME + 48], USER_DS
    mov dword ptr [esi + T_STATE], 1
    pop edi
    pop esi
    ret

# ---------------------------------------------------------------- scheduling
# resume_task: run task esi (switch CR3, put its frame on the kernel stack, return to ring 3).
resume_task:
    mov [current], esi
    mov eax, [esi + T_CR3]
    SET_CR3 eax
    mov esp, offset kernel_stack_top - FRAME_DWORDS * 4
    lea esi, [esi + T_FRAME]
    mov edi, esp
    mov ecx, FRAME_DWORDS
    cld
    rep movsd
    popad
    KIRET

# save_current: the frame on the kernel stack (a system call from ring 3) into the task table.
save_current:
    push ecx
    push esi
    push edi
    mov esi, offset kernel_stack_top - FRAME_DWORDS * 4
    mov edi, [current]
    add edi, T_FRAME
    mov ecx, FRAME_DWORDS
    cld
    rep movsd
    pop edi
    pop esi
    pop ecx
    ret

# schedule: the next runnable task after the current one; when none is left, the kernel goes on.
schedule:
    mov esi, [current]
    mov ecx, NTASKS
.Lsched_next:
    add esi, T_SIZE
    cmp esi, offset tasks_end
    jb 1f
    mov esi, offset tasks
1:
    cmp dword ptr [esi + T_STATE], 1
    je resume_task
    loop .Lsched_next
    mov eax, offset kernel_pd           # nobody left: the kernel's own address space
    SET_CR3 eax
    KERNEL_DATA_SEGMENTS                # the kernel's own data segments again
    mov esp, [kernel_resume_esp]
    jmp after_tasks

# print_task: "task A: " for the current task.
print_task:
    push eax
    PRINT "task "
    mov eax, [current]
    sub eax, offset tasks
    shr eax, 6
    add al, 'A'
    call putc
    PRINT ": "
    pop eax
    ret

# ---------------------------------------------------------------- interrupt handlers
    TICK_HANDLER                        # timer_handler / event_callback: count ticks

# #PF: error code, EIP, CS, EFLAGS (, ESP, SS from ring 3) on the stack.
pf_handler:
    pushad
.ifdef PV
    mov eax, [SHARED_CR2]               # the hypervisor put the faulting address here
.else
    mov eax, cr2
.endif
    mov edx, [esp + 32]                 # error code
    mov ecx, [esp + 40]                 # saved CS
    and ecx, 3
    cmp ecx, 3
    jne kernel_page_fault
    test edx, PTE_P                     # a protection violation: never demand-zero
    jnz kill_task
    cmp eax, USER_HEAP
    jb kill_task
    cmp eax, USER_HEAP_END
    jae kill_task
    mov ebx, eax                        # demand-zero: a fresh frame for the heap page
    call alloc_frame
    or eax, PTE_P | PTE_W | PTE_U
    mov edi, [current]
    mov edi, [edi + T_PT]
    shr ebx, 12
    and ebx, 0x3FF
    lea edi, [edi + ebx * 4]
    PTE_WRITE edi, eax
    inc dword ptr [demand_faults]
    popad
    add esp, 4
    KIRET

kill_task:
    call print_task
    PRINT "killed: page fault at "
    call puthex
    PRINT " (error code "
    mov eax, edx
    call puthex
    PRINT ")\n"
    inc dword ptr [killed]
    mov esi, [current]
    mov dword ptr [esi + T_STATE], 0
    mov eax, offset kernel_pd           # tear its address space down from the kernel's
    SET_CR3 eax
    mov eax, [esi + T_CR3]
    mov edx, [esi + T_PT]
    call space_destroy
    jmp schedule

kernel_page_fault:
    PRINT "page fault in the kernel at "
    call puthex
    PRINT ": kernel stops\n"
    EXIT 3

unexpected_exception:
    PRINT "unexpected exception: kernel stops\n"
    EXIT 1

# System calls from ring 3: eax = number; the saved registers are at esp after pushad.
syscall_handler:
    pushad
    cmp eax, SYS_REPORT
    je sys_report
    cmp eax, SYS_YIELD
    je sys_yield
    cmp eax, SYS_UNMAP
    je sys_unmap
    cmp eax, SYS_EXIT
    je sys_exit
    mov dword ptr [esp + 28], -1
sys_return:
    popad
    KIRET

sys_report:
    call print_task
    cmp ecx, LABELS
    jae 1f
    mov esi, [labels + ecx * 4]         # the label the task asked for, by number
    call puts
1:
    mov eax, ebx
    call puthex
    call newline
    jmp sys_return

sys_yield:
    call save_current
    jmp schedule

sys_exit:
    mov esi, [current]
    mov dword ptr [esi + T_STATE], 0
    jmp schedule

sys_unmap:                              # ebx = a heap address: unmap its page, flush the TLB entry
    mov eax, ebx
    cmp eax, USER_HEAP
    jb sys_return
    cmp eax, USER_HEAP_END
    jae sys_return
    mov edi, [current]
    mov edi, [edi + T_PT]
    shr eax, 12
    and eax, 0x3FF
    lea edi, [edi + eax * 4]
    mov eax, [edi]
    test eax, PTE_P
    jz sys_return
    and eax, 0xFFFFF000
    call free_frame
    xor eax, eax
    PTE_WRITE edi, eax
.ifdef PV
    mov dword ptr [mmuext_ops], MMUEXT_INVLPG_LOCAL
    mov [mmuext_ops + 4], ebx
    PV_CALL __HYPERVISOR_mmuext_op, mmuext_ops, 1
.else
    invlpg [ebx]
.endif
    call print_task
    PRINT "unmapped "
    mov eax, ebx
    and eax, 0xFFFFF000
    call puthex
    call newline
    jmp sys_return

# ---------------------------------------------------------------- the fork-like workload
# FORK_ROUNDS times: a new address space with FORK_PAGES pages (filled through the kernel's
# identity map, as fork copies the parent), switch into it, read and write every page through
# the new mapping, switch back, tear it down. The checksum proves each round saw its own pages.
fork_test:
.ifdef PV
    mov eax, offset kernel_pd           # (a paravirtual kernel cannot read CR3)
.else
    mov eax, cr3
.endif
    mov [parent_cr3], eax
    xor ebp, ebp
.Lfork_round:
    call space_create                   # eax = pd, edx = pt
    xor ecx, ecx
.Lfork_map:
    push eax
    call alloc_frame
    mov ebx, ebp
    shl ebx, 4
    add ebx, ecx
    mov [eax], ebx                      # the "copied" contents: round * 16 + page
    or eax, PTE_P | PTE_W | PTE_U
    mov [edx + ecx * 4], eax
    pop eax
    inc ecx
    cmp ecx, FORK_PAGES
    jb .Lfork_map
    call space_pin
    SET_CR3 eax                         # into the child
    xor ecx, ecx
.Lfork_touch:
    mov ebx, ecx
    shl ebx, 12
    mov edi, [USER_BASE + ebx]
    add [fork_sum], edi
    mov [USER_BASE + ebx + 4], ecx      # and write: the page becomes dirty
    inc ecx
    cmp ecx, FORK_PAGES
    jb .Lfork_touch
    mov ebx, [parent_cr3]
    SET_CR3 ebx                         # back to the parent
    call space_destroy
    inc ebp
    cmp ebp, FORK_ROUNDS
    jb .Lfork_round
    PRINT "fork test: "
    mov eax, FORK_ROUNDS
    call putdec
    PRINT " address spaces created, entered and destroyed, checksum "
    mov eax, [fork_sum]
    call puthex
    call newline
    ret

# ---------------------------------------------------------------- the ring-3 tasks
# One page of user code, shared read-only by both tasks; everything they write is private.
.balign 4096
user_text:
user_main:                              # ebx = task number (0 = A, 1 = B)
    mov ebp, ebx
    mov eax, ebp
    inc eax
    shl eax, 28
    or eax, 0xAA
    mov [USER_HEAP], eax                # not mapped yet: a demand-zero page fault first
    mov ebx, [USER_HEAP]
    mov ecx, 0                          # "heap" label
    mov eax, SYS_REPORT
    int 0x80
    mov ebx, [USER_HEAP + 0x1000]       # a second heap page, only read: zero
    mov ecx, 1                          # "heap2" label
    mov eax, SYS_REPORT
    int 0x80
    mov ecx, 3000                       # some work (the timer ticks meanwhile)
1:  add ebx, ecx
    loop 1b
    mov eax, SYS_YIELD
    int 0x80
    mov ebx, [USER_HEAP]                # same virtual address, own frame: still our value
    mov ecx, 2                          # "after" label
    mov eax, SYS_REPORT
    int 0x80
    mov ebx, USER_HEAP
    mov eax, SYS_UNMAP
    int 0x80
    mov ebx, [USER_HEAP]                # unmapped: a new zero page on demand
    mov ecx, 3                          # "again" label
    mov eax, SYS_REPORT
    int 0x80
    mov eax, SYS_YIELD
    int 0x80
    test ebp, ebp
    jnz 2f
    mov eax, [0x00100000]               # task A reads kernel memory: a supervisor page
    jmp 3f
2:  mov dword ptr [user_main], eax      # task B writes its code: a read-only page
3:  mov ebx, ebp
    mov ecx, 4                          # "survived" label
    mov eax, SYS_REPORT
    int 0x80
    mov eax, SYS_EXIT
    int 0x80
.balign 4096
user_text_end:

.include "lib.inc"

# ---------------------------------------------------------------- data
.section .data
    KERNEL_GDT
.ifdef PV
.align 4
    PV_BOOT_CALLS
trap_table:
    TRAP 0, 4, unexpected_exception
    TRAP 6, 4, unexpected_exception
    TRAP 13, 4, unexpected_exception
    TRAP 14, 4, pf_handler
    TRAP SYSCALL_VECTOR, 4 | 3, syscall_handler
    .long 0, 0
pin_calls:                              # multicall entries: op, result, args[6]
    .long __HYPERVISOR_mmu_update, 0, 0, 0, 0, DOMID_SELF, 0, 0
    .long __HYPERVISOR_mmuext_op, 0, 0, 0, 0, DOMID_SELF, 0, 0
unpin_calls:
    .long __HYPERVISOR_mmuext_op, 0, 0, 0, 0, DOMID_SELF, 0, 0
    .long __HYPERVISOR_mmu_update, 0, 0, 0, 0, DOMID_SELF, 0, 0
mmuext_ops:   .space 24                 # {cmd, arg1, arg2} x 2
mmu_reqs:     .space 32                 # {u64 ptr, u64 val} x 2
.endif
lbl_heap:     .asciz "heap[0] = "
lbl_heap2:    .asciz "heap page 2 reads "
lbl_after:    .asciz "after the switch, heap[0] = "
lbl_again:    .asciz "after unmap, heap[0] = "
lbl_survived: .asciz "survived a forbidden access?! "
.align 4
labels:           .long lbl_heap, lbl_heap2, lbl_after, lbl_again, lbl_survived
ticks:            .long 0
demand_faults:    .long 0
killed:           .long 0
current:          .long 0
parent_cr3:       .long 0
fork_sum:         .long 0
kernel_resume_esp: .long 0
pool_top:         .long 0
tasks:            .space NTASKS * T_SIZE
tasks_end:
.align 16
tss:              .space 0x68
.align 8
idt:              .space (SYSCALL_VECTOR + 1) * 8
pool:             .space POOL_FRAMES * 4
.balign 4096
kernel_pd:        .space 4096
kernel_pt:        .space 4096
                  .space 4096
kernel_stack_top:

# The vlab teaching kernel.
#
# A small protected-mode OS written to do every sensitive thing a real kernel does, so that each
# virtualization strategy has something to get right:
#   - loads its own GDT (LGDT, a far JMP to reload CS), TSS (LTR) and IDT (LIDT);
#   - handles the timer (IRQ0 at vector 0x20), #GP, #PF and system calls (int 0x80);
#   - reads CR0 twice: with MOV (privileged: traps when deprivileged) and with SMSW (does not);
#   - reads its GDTR with SGDT and its CPL from CS (sensitive, unprivileged: holes);
#   - reloads CR3 (the TLB-flush idiom) and asks CPUID for the vendor string;
#   - uses pushf/cli ... popf critical sections (the classic POPF hole);
#   - starts a ring-3 user task with IRETD; the task makes system calls and takes a #GP;
#   - idles with HLT until the timer has ticked TARGET_TICKS times, then prints a report
#     and leaves through the exit device.
# Its console output is what every other strategy is checked against.
#
# Built with --defsym PV=1 it becomes the *paravirtual* kernel (guest "kernel-pv"): every
# privileged operation is replaced by a hypercall to the hypervisor (int 0x82, Xen's numbers),
# interrupts are masked with a flag in the shared-info page instead of CLI/STI, and the kernel
# knows it runs in ring 1. `vlab guests diff kernel kernel-pv` shows exactly what had to change.

.include "vlab.inc"
.include "kernel.inc"

.set TARGET_TICKS, 20
.set GDT_ENTRIES, 8
.set SYS_WRITE, 1              # ebx = buffer, ecx = length
.set SYS_TICKS, 2              # returns the tick count in eax
.set SYS_YIELD, 3              # wait for the next timer tick
.set SYS_EXIT, 4               # end the user task
.set SYS_PRINTNUM, 5           # print ebx in decimal

.section .text
.globl _start
_start:
    PV_SIGNATURE
    mov esp, offset kernel_stack_top
    PRINT "vlab teaching kernel\n"

    # --- Segmentation: our own GDT; reloading CS needs a far jump.
    LOAD_SEGMENTS

.ifdef PV
    # --- Stack for traps from ring 3, trap table and event callback: one batched multicall.
.ifdef PV_NOBATCH
    mov eax, __HYPERVISOR_stack_switch
    mov ebx, RING1_DS
    mov ecx, offset kernel_stack_top
    int HYPERCALL_VECTOR
    mov eax, __HYPERVISOR_set_trap_table
    mov ebx, offset trap_table
    int HYPERCALL_VECTOR
    mov eax, __HYPERVISOR_set_callbacks
    mov ebx, RING1_CS
    mov ecx, offset event_callback
    mov edx, RING1_CS
    mov esi, offset unexpected_exception
    int HYPERCALL_VECTOR
.else
    mov eax, __HYPERVISOR_multicall
    mov ebx, offset boot_calls
    mov ecx, 3
    int HYPERCALL_VECTOR
.endif
.else
    # --- The TSS gives the CPU our ring-0 stack for interrupts that arrive from ring 3.
    mov dword ptr [tss + 4], offset kernel_stack_top
    mov dword ptr [tss + 8], KERNEL_DS
    mov word ptr [tss + 0x66], 0x68     # no I/O permission bitmap
    mov ax, TSS_SELECTOR
    ltr ax

    # --- The IDT: every exception to a catch-all, then our real handlers.
    xor eax, eax
.Lfill_idt:
    mov ebx, offset unexpected_exception
    mov cl, 0x8E                        # present, DPL 0, 32-bit interrupt gate
    call set_gate
    inc eax
    cmp eax, 32
    jb .Lfill_idt
    mov eax, 13
    mov ebx, offset gp_handler
    call set_gate
    mov eax, 14
    mov ebx, offset pf_handler
    call set_gate
    mov eax, TIMER_VECTOR
    mov ebx, offset timer_handler
    call set_gate
    mov eax, SYSCALL_VECTOR
    mov ebx, offset syscall_handler
    mov cl, 0xEE                        # DPL 3: user code may "int 0x80"
    call set_gate
    lidt [idt_desc]
.endif
    PRINT "descriptor tables loaded\n"

    # --- What the CPU tells us about itself.
.ifndef PV
    mov eax, cr0                        # privileged: a monitor must trap and emulate it
    mov [cr0_mov], eax
    smsw eax                            # the same bits, unprivileged: a hole
    and eax, 0xFFFF
    mov [cr0_smsw], eax
    sgdt [sgdt_buf]                     # unprivileged: shows the *real* GDTR
.endif
    mov eax, cs                         # unprivileged: RPL of CS is the CPL
    and eax, 3
    mov [cpl_seen], eax
.ifdef PV
    mov eax, __HYPERVISOR_mmuext_op     # "reload CR3": ask the hypervisor for a new base
    mov ebx, offset mmuext_new_baseptr
    mov ecx, 1
    xor edx, edx
    mov esi, DOMID_SELF
    int HYPERCALL_VECTOR
.else
    mov eax, cr3                        # reload CR3: the classic "flush the TLB" idiom
    mov cr3, eax
.endif
    xor eax, eax                        # CPUID leaf 0: the vendor string (EBX, EDX, ECX)
    cpuid
    mov [vendor], ebx
    mov [vendor + 4], edx
    mov [vendor + 8], ecx

    # --- Interrupts on: unmask the timer, enable.
.ifdef PV
    mov eax, __HYPERVISOR_set_timer_op  # a tick every 10,000 instructions of virtual time
    mov ebx, 10000
    xor ecx, ecx
    int HYPERCALL_VECTOR
    mov byte ptr [UPCALL_MASK], 0       # events on: a store to shared memory, no trap
.else
    mov al, 0xFE
    out PIC_DATA, al
    sti
.endif

    # --- A classic critical section.
.ifdef PV
    movzx eax, byte ptr [UPCALL_MASK]   # save the event mask (pushf)
    push eax
    mov byte ptr [UPCALL_MASK], 1       # mask events (cli)
    inc dword ptr [critical_sections]
    pop eax
    mov [UPCALL_MASK], al               # restore (popf)
.else
    pushfd
    cli
    inc dword ptr [critical_sections]
    popfd
.endif

    # --- Does POPF restore "interrupts off"? (It cannot at CPL > IOPL: the POPF hole.)
.ifdef PV
    mov byte ptr [UPCALL_MASK], 1       # cli
    movzx eax, byte ptr [UPCALL_MASK]   # pushf: the mask is 1
    push eax
    mov byte ptr [UPCALL_MASK], 0       # sti
    pop eax
    mov [UPCALL_MASK], al               # popf: masked again
    movzx eax, byte ptr [UPCALL_MASK]
    xor eax, 1                          # "IF" is the mask inverted
    mov [if_after_popf], eax
    mov byte ptr [UPCALL_MASK], 0       # sti
.else
    cli
    pushfd                              # flags with IF = 0
    sti
    popfd                               # must turn interrupts off again
    pushfd
    pop eax
    shr eax, 9
    and eax, 1
    mov [if_after_popf], eax
    sti
.endif

    # --- The user task: ring 3, entered with IRETD.
    PRINT "starting user task in ring 3\n"
    mov [kernel_resume_esp], esp
    mov ax, USER_DS
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    push USER_DS                        # SS
    push offset user_stack_top          # ESP
    push 0x202                          # EFLAGS: IF = 1
    push USER_CS                        # CS
    push offset user_main               # EIP
    KIRET

after_user:
.ifdef PV
    mov byte ptr [UPCALL_MASK], 0
.else
    sti
.endif
idle:                                   # wait for the timer with HLT, as an idle loop does
    cmp dword ptr [ticks], TARGET_TICKS
    jae report
.ifdef PV
    mov eax, __HYPERVISOR_sched_op      # block until an event arrives
    mov ebx, SCHEDOP_block
    int HYPERCALL_VECTOR
.else
    hlt
.endif
    jmp idle

report:
.ifdef PV
    mov byte ptr [UPCALL_MASK], 1
.else
    cli
.endif
    PRINT "--- report ---\n"
    PRINT "ticks: "
    mov eax, [ticks]
    call putdec
    call newline
.ifdef PV
    PRINT "CR0 (mov): not read (paravirtualized)\n"
    PRINT "CR0 (smsw): not read (paravirtualized)\n"
    PRINT "GDT (set_gdt): base="
    mov eax, offset gdt
    call puthex
    PRINT " entries="
    mov eax, GDT_ENTRIES
    call puthex
    call newline
.else
    PRINT "CR0 (mov): "
    mov eax, [cr0_mov]
    call puthex
    call newline
    PRINT "CR0 (smsw): "
    mov eax, [cr0_smsw]
    call puthex
    call newline
    PRINT "GDT (sgdt): base="
    mov eax, [sgdt_buf + 2]
    call puthex
    PRINT " limit="
    movzx eax, word ptr [sgdt_buf]
    call puthex
    call newline
.endif
    PRINT "CPU vendor (cpuid): "
    mov esi, offset vendor
    call puts
    call newline
    PRINT "CPL (from CS): "
    mov eax, [cpl_seen]
    call putdec
.ifdef PV
    PRINT " (paravirtualized: the kernel knows its ring)"
.endif
    call newline
    PRINT "interrupts after popf: "
    mov eax, [if_after_popf]
    call putdec
    call newline
    PRINT "critical sections: "
    mov eax, [critical_sections]
    call putdec
    call newline
    PRINT "system calls: "
    mov eax, [syscalls]
    call putdec
    call newline
    PRINT "user #GP faults: "
    mov eax, [user_gp_faults]
    call putdec
    call newline
    PRINT "kernel done\n"
    EXIT 0

.ifndef PV
# set_gate: IDT entry eax -> handler ebx, type/attributes cl (SDM vol. 3, figure 6-2).
set_gate:
    push edi
    push ebx
    lea edi, [idt + eax * 8]
    mov [edi], bx
    mov word ptr [edi + 2], KERNEL_CS
    mov byte ptr [edi + 4], 0
    mov [edi + 5], cl
    shr ebx, 16
    mov [edi + 6], bx
    pop ebx
    pop edi
    ret
.endif

# ---------------------------------------------------------------- interrupt handlers
    TICK_HANDLER                        # timer_handler / event_callback: count ticks

# #GP: from ring 3 the task is told off and resumes after the (one-byte) offending instruction;
# from the kernel it is fatal. Frame: error code, EIP, CS, EFLAGS (, ESP, SS from ring 3).
gp_handler:
    push eax
    mov eax, [esp + 12]                 # saved CS
    and eax, 3
    cmp eax, 3
    jne kernel_fault
    inc dword ptr [user_gp_faults]
    PRINT "#GP from ring 3, error code "
    mov eax, [esp + 4]
    call puthex
    call newline
    inc dword ptr [esp + 8]             # skip the one-byte privileged instruction
    pop eax
    add esp, 4                          # drop the error code
    KIRET

pf_handler:
    PRINT "page fault: kernel stops\n"
    EXIT 3

kernel_fault:
    PRINT "#GP in the kernel: kernel stops\n"
    EXIT 2

unexpected_exception:
    PRINT "unexpected exception: kernel stops\n"
    EXIT 1

# System calls: eax = number (see SYS_*); registers other than eax are preserved.
syscall_handler:
    inc dword ptr [syscalls]
    cmp eax, SYS_WRITE
    je sys_write
    cmp eax, SYS_TICKS
    je sys_ticks
    cmp eax, SYS_YIELD
    je sys_yield
    cmp eax, SYS_EXIT
    je sys_exit
    cmp eax, SYS_PRINTNUM
    je sys_printnum
    mov eax, -1
    SYSRET_IRET
sys_write:
    push esi
    push ecx
    mov esi, ebx
.Lwrite_next:
    test ecx, ecx
    jz .Lwrite_done
    lodsb
    call putc
    dec ecx
    jmp .Lwrite_next
.Lwrite_done:
    pop ecx
    pop esi
    xor eax, eax
    SYSRET_IRET
sys_ticks:
    mov eax, [ticks]
    SYSRET_IRET
sys_yield:
.ifdef PV
    mov byte ptr [UPCALL_MASK], 0       # wait for the next tick, then return to the task
    mov eax, __HYPERVISOR_sched_op
    mov ebx, SCHEDOP_block
    int HYPERCALL_VECTOR                # (events stay on: the task gets them as before)
.else
    sti                                 # wait for the next tick, then return to the task
    hlt
    cli
.endif
    xor eax, eax
    SYSRET_IRET
sys_printnum:
    mov eax, ebx
    call putdec
    xor eax, eax
    SYSRET_IRET
sys_exit:
    mov esp, [kernel_resume_esp]        # abandon the user frame: back to the kernel's flow
    KERNEL_DATA_SEGMENTS                # the kernel's own data segments again
    jmp after_user

# ---------------------------------------------------------------- the ring-3 user task
user_main:
    mov eax, SYS_WRITE
    mov ebx, offset msg_hello
    mov ecx, offset msg_hello_len
    int 0x80
    mov eax, SYS_WRITE
    mov ebx, offset msg_cpl
    mov ecx, offset msg_cpl_len
    int 0x80
    mov ebx, cs
    and ebx, 3
    mov eax, SYS_PRINTNUM
    int 0x80
    call user_newline
    mov eax, SYS_TICKS
    int 0x80
    mov esi, eax                        # ticks before yielding
    mov edi, 3
.Luser_yield:
    mov eax, SYS_YIELD
    int 0x80
    dec edi
    jnz .Luser_yield
    mov eax, SYS_TICKS
    int 0x80
    sub eax, esi
    mov ebx, offset msg_yield
    mov ecx, offset msg_yield_len
    push eax
    mov eax, SYS_WRITE
    int 0x80
    pop ebx
    mov eax, SYS_PRINTNUM
    int 0x80
    call user_newline
    cli                                 # privileged in ring 3: #GP, the kernel skips it
    mov eax, SYS_WRITE
    mov ebx, offset msg_survived
    mov ecx, offset msg_survived_len
    int 0x80
    mov eax, SYS_EXIT
    int 0x80
user_newline:
    push eax
    push ebx
    push ecx
    mov eax, SYS_WRITE
    mov ebx, offset msg_nl
    mov ecx, 1
    int 0x80
    pop ecx
    pop ebx
    pop eax
    ret

.include "lib.inc"

# ---------------------------------------------------------------- data
.section .data
    KERNEL_GDT
.ifdef PV
.align 4
    PV_BOOT_CALLS
trap_table:                             # vector, flags (DPL | 4: mask events), CS, handler
    TRAP 0, 4, unexpected_exception
    TRAP 6, 4, unexpected_exception
    TRAP 13, 4, gp_handler
    TRAP 14, 4, pf_handler
    # DPL 3: user code may "int 0x80"; events left on (no 4): the hypervisor may then give it
    # Xen's fast trap, a direct gate, and system calls never enter the hypervisor
    TRAP SYSCALL_VECTOR, 3, syscall_handler
    .long 0, 0                          # end of table
mmuext_new_baseptr:                     # cmd, arg1 (the page directory's frame), arg2
    .long MMUEXT_NEW_BASEPTR, 0, 0
.endif
msg_hello:    .ascii "hello from the user task (ring 3)\n"
.set msg_hello_len, . - msg_hello
msg_cpl:      .ascii "user task CPL (from CS): "
.set msg_cpl_len, . - msg_cpl
msg_yield:    .ascii "user task: 3 yields took ticks: "
.set msg_yield_len, . - msg_yield
msg_survived: .ascii "user task survived its #GP and exits\n"
.set msg_survived_len, . - msg_survived
msg_nl:       .ascii "\n"
.align 4
ticks:             .long 0
syscalls:          .long 0
user_gp_faults:    .long 0
critical_sections: .long 0
cr0_mov:           .long 0
cr0_smsw:          .long 0
cpl_seen:          .long 0
if_after_popf:     .long 0
kernel_resume_esp: .long 0
sgdt_buf:          .space 8
vendor:            .space 16
.align 16
tss:               .space 0x68
.align 8
idt:               .space (SYSCALL_VECTOR + 1) * 8
.align 16
                   .space 4096
user_stack_top:
                   .space 4096
kernel_stack_top:

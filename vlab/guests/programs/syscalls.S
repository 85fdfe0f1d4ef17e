# A system-call-heavy workload: a ring-3 task makes ITERATIONS system calls (int 0x80)
# Under VT-x a system call never leaves the guest; a software monitor sees every one. Built with
# --defsym PV=1 ("syscalls-pv") the kernel part asks the hypervisor instead: a trap table entry
# for int 0x80 (DPL 3, events not masked: eligible for Xen's fast trap, a direct gate, so with it
# no system call enters the hypervisor) and the stack for traps from ring 3; the kernel returns
# with a real IRETD in both builds.
.include "vlab.inc"
.include "kernel.inc"
.ifndef ITERATIONS
.set ITERATIONS, 2000
.endif
.section .text
.globl _start
_start:
    PV_SIGNATURE
.ifdef PV
    mov [kernel_esp], esp
    mov eax, __HYPERVISOR_set_trap_table
    mov ebx, offset trap_table
    int HYPERCALL_VECTOR
    mov eax, __HYPERVISOR_stack_switch
    mov ebx, RING1_DS
    mov ecx, esp
    int HYPERCALL_VECTOR
.else
    SET_GATE idt, 0x80, syscall_entry, 0xEE
    lidt [idt_desc]
    mov [kernel_esp], esp
.endif
    mov ax, USER_DS
    mov ds, ax
    mov es, ax
    push USER_DS
    push 0x80000
    push 0x2
    push USER_CS
    push offset user
    KIRET
user:                                   # ring 3: nothing but system calls
    mov ecx, ITERATIONS
1:  mov eax, 1
    int 0x80
    loop 1b
    mov eax, 2
    int 0x80
syscall_entry:
    cmp eax, 2
    je done
    inc dword ptr [calls]
    SYSRET_IRET
done:
    mov esp, [kernel_esp]
.ifdef PV
    mov ax, RING1_DS
.else
    mov ax, KERNEL_DS
.endif
    mov ds, ax
    mov es, ax
    PRINT "system calls: "
    mov eax, [calls]
    call putdec
    call newline
    EXIT 0
.include "lib.inc"
.section .data
.align 4
.ifdef PV
trap_table:                             # vector, flags (DPL 3, events not masked), CS, handler
    TRAP 0x80, 3, syscall_entry
    .long 0, 0
.endif
    .word 0
idt_desc:   .word 0x81 * 8 - 1
            .long idt
calls:      .long 0
kernel_esp: .long 0
.align 8
idt:        .space 0x81 * 8

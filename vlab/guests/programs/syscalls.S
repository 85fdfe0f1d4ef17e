# A system-call-heavy workload: a ring-3 task makes ITERATIONS system calls (int 0x80)
# Under VT-x a system call never leaves the guest; a software monitor sees every one.
.include "vlab.inc"
.ifndef ITERATIONS
.set ITERATIONS, 2000
.endif
.section .text
.globl _start
_start:
    SET_GATE idt, 0x80, syscall_entry, 0xEE
    lidt [idt_desc]
    mov [kernel_esp], esp
    mov ax, USER_DS
    mov ds, ax
    mov es, ax
    push USER_DS
    push 0x80000
    push 0x2
    push USER_CS
    push offset user
    iretd
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
    iretd
done:
    mov esp, [kernel_esp]
    mov ax, KERNEL_DS
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
    .word 0
idt_desc:   .word 0x81 * 8 - 1
            .long idt
calls:      .long 0
kernel_esp: .long 0
.align 8
idt:        .space 0x81 * 8

# title: INT n (DPL-3 gate) and a #GP from ring 3 to ring-0 handlers: the stack switches to TSS.SS0:ESP0 as the TSS holds it at each event (ESP0 changed in between); the frame is SS, ESP, EFLAGS, CS, EIP (+ the error code for #GP: handler ESP = ESP0 - 24, else ESP0 - 20); DS keeps the ring-3 selector
# sdm: vol. 3A 6.12.1 (figure 6-4 "Stack Usage with Privilege-Level Change": SS, ESP, EFLAGS, CS, EIP, error code; "the processor ... obtains the segment selector and stack pointer for the stack to be used by the handler from the TSS for the currently executing task"), 6.13; vol. 3B 18.3.1.1 (RF = 1 pushed for a fault); vol. 2A INT n (INTER-PRIVILEGE-LEVEL-INTERRUPT)
# paravirt: n/a the ring-3-to-ring-0 stack switch through TSS.SS0:ESP0: ring 0 and the TSS are the hypervisor's (a PV kernel's stack comes from stack_switch)
# diverges: trap_emulate the kernel's IRETD to ring 3 runs at ring 1 without a trap, where (CPL 1 > IOPL 0) it leaves IF as it is, set: ring 3 runs with IF = 1 and its frames show it (the IRET form of the POPF hole, Robin & Irvine 2000)
# expect:
# | int: handler esp = esp0 - 20: 0x00000001
# | int: handler ds = 0x00000033
# | int: frame eip is after the int: 0x00000001
# | int: frame cs = 0x0000002b
# | int: frame eflags = 0x000008d7
# | int: frame esp = ustack_top - 12: 0x00000001
# | int: frame ss = 0x00000033
# | #GP: handler esp = esp0 - 24: 0x00000001
# | #GP: handler ds = 0x00000033
# | #GP: frame error = 0x00000010
# | #GP: frame eip is the mov: 0x00000001
# | #GP: frame cs = 0x0000002b
# | #GP: frame eflags = 0x000108d7
# | #GP: frame esp = ustack_top - 20: 0x00000001
# | #GP: frame ss = 0x00000033
.include "conf.inc"
# CAPTURE: record ESP, DS and the first six dwords at ESP (DS is the flat ring-3 data
# segment on entry: ring 0 may write through it)
.macro CAPTURE
    mov [h_esp], esp
    mov [h_ds], ds
    mov eax, [esp]
    mov [fr], eax
    mov eax, [esp + 4]
    mov [fr + 4], eax
    mov eax, [esp + 8]
    mov [fr + 8], eax
    mov eax, [esp + 12]
    mov [fr + 12], eax
    mov eax, [esp + 16]
    mov [fr + 16], eax
    mov eax, [esp + 20]
    mov [fr + 20], eax
    mov ax, KERNEL_DS
    mov ds, ax
    mov es, ax
.endm
.macro HANDLER_REGS name
    PRINT "\name: handler ds = "
    movzx eax, word ptr [h_ds]
    call puthex
    call newline
.endm
main:
    SET_GATE idt, 0x41, h_int, 0xEE     # 32-bit interrupt gate, DPL 3, to ring 0
    SET_GATE idt, 13, h_gp, 0x8E
    mov dword ptr [tss + TSS_ESP0], offset stack_a_top
    TO_RING3 user, 0x8D7                # OF SF ZF AF PF CF, IF 0, IOPL 0
user:
    lea esp, [esp - 12]                 # (LEA: flags kept)
    int 0x41
ret_int:
    jmp .
h_int:
    CAPTURE
    xor edx, edx
    cmp dword ptr [h_esp], offset stack_a_top - 20
    sete dl
    SHOW "int: handler esp = esp0 - 20: ", edx
    HANDLER_REGS "int"
    xor edx, edx
    cmp dword ptr [fr], offset ret_int
    sete dl
    SHOW "int: frame eip is after the int: ", edx
    movzx eax, word ptr [fr + 4]
    SHOW "int: frame cs = ", eax
    SHOW "int: frame eflags = ", [fr + 8]
    xor edx, edx
    cmp dword ptr [fr + 12], offset ustack_top - 12
    sete dl
    SHOW "int: frame esp = ustack_top - 12: ", edx
    movzx eax, word ptr [fr + 16]
    SHOW "int: frame ss = ", eax
    mov dword ptr [tss + TSS_ESP0], offset stack_b_top
    TO_RING3 user2, 0x8D7
user2:
    lea esp, [esp - 20]
    mov ax, KERNEL_DS                   # a DPL-0 data segment at CPL 3: #GP(0x10)
at_gp:
    mov ds, ax
    jmp .
h_gp:
    CAPTURE
    xor edx, edx
    cmp dword ptr [h_esp], offset stack_b_top - 24
    sete dl
    SHOW "#GP: handler esp = esp0 - 24: ", edx
    HANDLER_REGS "#GP"
    SHOW "#GP: frame error = ", [fr]
    xor edx, edx
    cmp dword ptr [fr + 4], offset at_gp
    sete dl
    SHOW "#GP: frame eip is the mov: ", edx
    movzx eax, word ptr [fr + 8]
    SHOW "#GP: frame cs = ", eax
    SHOW "#GP: frame eflags = ", [fr + 12]
    xor edx, edx
    cmp dword ptr [fr + 16], offset ustack_top - 20
    sete dl
    SHOW "#GP: frame esp = ustack_top - 20: ", edx
    movzx eax, word ptr [fr + 20]
    SHOW "#GP: frame ss = ", eax
    EXIT 0
.section .data
h_esp:  .long 0
h_ds:   .long 0
fr:     .space 24
        .space 1024
stack_a_top:
        .space 1024
stack_b_top:

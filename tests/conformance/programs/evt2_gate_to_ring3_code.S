# title: an interrupt gate (DPL 3) whose selector is the DPL-3 code segment with RPL 0: INT n from ring 3 runs the handler at ring 3 (CS = 0x2B) on the ring-3 stack, no stack switch; the same INT n at ring 0 is #GP(0x28): a handler may not be less privileged than CPL
# sdm: vol. 2A INT n ("IF new code-segment DPL > CPL THEN #GP(error_code(new code-segment selector,0,EXT))"; INTRA-PRIVILEGE-LEVEL-INTERRUPT: "CS(RPL) <- CPL"); vol. 3A 6.12.1.1 ("the processor does not permit transfer of execution to an exception- or interrupt-handler procedure in a less privileged code segment (numerically greater privilege level) than the CPL")
# paravirt: n/a an IDT gate to ring-3 code and INT n at ring 0: a PV kernel has no IDT and does not run in ring 0
# diverges: trap_emulate the kernel's IRETD to ring 3 runs at ring 1 without a trap, where (CPL 1 > IOPL 0) it leaves IF as it is, set: ring 3 runs with IF = 1 and its frames show it (the IRET form of the POPF hole, Robin & Irvine 2000)
# expect:
# | ring 3: handler cs = 0x0000002b
# | ring 3: handler esp = ustack_top - 12: 0x00000001
# | ring 3: frame eip is after the int: 0x00000001
# | ring 3: frame cs = 0x0000002b
# | ring 3: frame eflags = 0x00000002
# | exception 13, error 0x00000028, eip +0
# | done
.include "conf.inc"
main:
    SET_GATE idt, 0x41, handler, 0xEE   # 32-bit interrupt gate, DPL 3 ...
    mov word ptr [idt + 0x41 * 8 + 2], USER_CS & ~3     # ... to 0x28, RPL 0
    TO_RING3 user
user:
    int 0x41
ret_int:
    movzx eax, word ptr [h_cs]
    USHOW "ring 3: handler cs = ", eax
    xor eax, eax
    cmp dword ptr [h_esp], offset ustack_top - 12
    sete al
    USHOW "ring 3: handler esp = ustack_top - 12: ", eax
    xor eax, eax
    cmp dword ptr [fr], offset ret_int
    sete al
    USHOW "ring 3: frame eip is after the int: ", eax
    movzx eax, word ptr [fr + 4]
    USHOW "ring 3: frame cs = ", eax
    USHOW "ring 3: frame eflags = ", [fr + 8]
    UBACK ring0
ring0:
    mov ax, KERNEL_DS
    mov ds, ax
    mov es, ax
    MARK 1f
    RESUME 2f
1:  int 0x41
2:  PRINT "done\n"
    EXIT 0
handler:
    mov [h_cs], cs
    mov [h_esp], esp
    push dword ptr [esp]
    pop dword ptr [fr]
    push dword ptr [esp + 4]
    pop dword ptr [fr + 4]
    push dword ptr [esp + 8]
    pop dword ptr [fr + 8]
    iretd
.section .data
h_cs:      .long 0
h_esp:     .long 0
fr:        .space 12

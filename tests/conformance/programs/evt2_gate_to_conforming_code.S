# title: INT n from ring 3 through a DPL-3 interrupt gate whose selector (RPL 0) names a DPL-0 conforming code segment: the handler keeps CPL 3 (CS = selector | 3), no stack switch (EFLAGS, CS, EIP pushed on the ring-3 stack, SS unchanged), IF cleared; its IRETD at CPL 3 with IOPL 0 does not restore IF
# sdm: vol. 2A INT n (PROTECTED-MODE: "IF new code segment is conforming or new code-segment DPL = CPL THEN GOTO INTRA-PRIVILEGE-LEVEL-INTERRUPT"; there "CS(RPL) <- CPL"; "IF <- 0" for an interrupt gate), IRET (RETURN-TO-SAME-PRIVILEGE-LEVEL: "IF CPL <= IOPL THEN EFLAGS(IF) <- tempEFLAGS"); vol. 3A 6.12.1 ("If the handler procedure is going to be executed at the same privilege level ..."), 6.12.1.1 (handlers in conforming code segments), 5.8.1.2
# paravirt: n/a an IDT gate to a DPL-0 conforming code segment run at ring 3: a PV kernel has no IDT and no DPL-0 segment
# diverges: trap_emulate the kernel's IRETD to ring 3 runs at ring 1 without a trap, where (CPL 1 > IOPL 0) it leaves IF as it is, set: ring 3 runs with IF = 1 and its frames show it (the IRET form of the POPF hole, Robin & Irvine 2000)
# expect:
# | handler cs = 0x00000043
# | handler ss = 0x00000033
# | handler esp = ustack_top - 12: 0x00000001
# | frame eip is after the int: 0x00000001
# | frame cs = 0x0000002b
# | frame eflags = 0x00000202
# | handler eflags = 0x00000002
# | eflags after iretd (ring 3) = 0x00000002
.include "conf.inc"
main:
    mov al, 0xFF                        # every IRQ masked at the PIC: IF = 1 must wake nothing
    out PIC_DATA, al
    mov edi, offset gdt + GDT_SPARE     # 0x40: code, conforming, readable, DPL 0, flat
    xor eax, eax
    mov ebx, 0xFFFFF
    mov cx, 0xC9E
    call mkdesc
    SET_GATE idt, 0x41, handler, 0xEE   # 32-bit interrupt gate, DPL 3 ...
    mov word ptr [idt + 0x41 * 8 + 2], GDT_SPARE    # ... to 0x40 (RPL 0)
    SET_GATE idt, 0x43, recorder, 0xEE  # the recorder: [rec_flags] = the EFLAGS it was given
    TO_RING3 user, 0x202                # IF = 1, IOPL 0
user:
    int 0x41
ret_int:
    int 0x43
    mov ecx, [rec_flags]
    movzx eax, word ptr [h_cs]
    USHOW "handler cs = ", eax
    movzx eax, word ptr [h_ss]
    USHOW "handler ss = ", eax
    xor eax, eax
    cmp dword ptr [h_esp], offset ustack_top - 12
    sete al
    USHOW "handler esp = ustack_top - 12: ", eax
    xor eax, eax
    cmp dword ptr [fr], offset ret_int
    sete al
    USHOW "frame eip is after the int: ", eax
    movzx eax, word ptr [fr + 4]
    USHOW "frame cs = ", eax
    USHOW "frame eflags = ", [fr + 8]
    USHOW "handler eflags = ", [h_eflags]
    USHOW "eflags after iretd (ring 3) = ", ecx
    mov eax, 3
    int 0x80
handler:
    mov [h_cs], cs
    mov [h_ss], ss
    mov [h_esp], esp
    push dword ptr [esp]
    pop dword ptr [fr]
    push dword ptr [esp + 4]
    pop dword ptr [fr + 4]
    push dword ptr [esp + 8]
    pop dword ptr [fr + 8]
    int 0x43
    push dword ptr [rec_flags]
    pop dword ptr [h_eflags]
    iretd
recorder:
    push dword ptr [esp + 8]
    pop dword ptr [rec_flags]
    iretd
.section .data
h_cs:      .long 0
h_ss:      .long 0
h_esp:     .long 0
h_eflags:  .long 0
fr:        .space 12
rec_flags: .long 0

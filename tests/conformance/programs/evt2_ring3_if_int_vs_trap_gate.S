# title: INT n from ring 3 (IF=1, IOPL 0) through a DPL-3 interrupt gate and a DPL-3 trap gate to ring 0: both push EFLAGS with IF=1; the handler runs with IF=0 behind the interrupt gate, IF=1 behind the trap gate; IRETD back to ring 3 restores IF=1 (flags read as a nested INT pushes them)
# sdm: vol. 3A 6.12.1.3 ("the processor clears the IF flag ... when it calls an exception- or interrupt-handling procedure through an interrupt gate ... through a trap gate ... does not affect the IF flag"), 6.12.1 (figure 6-4); vol. 2A INT n ("IF IDT gate is interrupt gate THEN IF <- 0"), IRET (at CPL 0: "IF CPL <= IOPL THEN EFLAGS(IF) <- tempEFLAGS")
# paravirt: n/a interrupt versus trap gates and the real IF at ring 0: a PV kernel has no IDT and its IF is the hypervisor's event mask
# expect:
# | interrupt gate: pushed eflags = 0x00000202
# | interrupt gate: handler eflags = 0x00000002
# | interrupt gate: eflags back in ring 3 = 0x00000202
# | trap gate: pushed eflags = 0x00000203
# | trap gate: handler eflags = 0x00000203
# | trap gate: eflags back in ring 3 = 0x00000203
.include "conf.inc"
main:
    mov al, 0xFF                        # every IRQ masked at the PIC: IF = 1 must wake nothing
    out PIC_DATA, al
    SET_GATE idt, 0x41, handler, 0xEE   # 32-bit interrupt gate, DPL 3
    SET_GATE idt, 0x42, handler, 0xEF   # 32-bit trap gate, DPL 3
    SET_GATE idt, 0x43, recorder, 0xEE  # the recorder: [rec_flags] = the EFLAGS it was given
    TO_RING3 user, 0x202                # IF = 1, IOPL 0
user:
    int 0x41
    int 0x43
    mov ecx, [rec_flags]
    USHOW "interrupt gate: pushed eflags = ", [f_eflags]
    USHOW "interrupt gate: handler eflags = ", [h_eflags]
    USHOW "interrupt gate: eflags back in ring 3 = ", ecx
    stc
    int 0x42
    int 0x43
    mov ecx, [rec_flags]
    clc
    USHOW "trap gate: pushed eflags = ", [f_eflags]
    USHOW "trap gate: handler eflags = ", [h_eflags]
    USHOW "trap gate: eflags back in ring 3 = ", ecx
    mov eax, 3
    int 0x80
handler:                                # DS is the flat ring-3 data segment: usable here
    push dword ptr [esp + 8]
    pop dword ptr [f_eflags]
    int 0x43
    push dword ptr [rec_flags]
    pop dword ptr [h_eflags]
    iretd
recorder:
    push dword ptr [esp + 8]
    pop dword ptr [rec_flags]
    iretd
.section .data
h_eflags:  .long 0
f_eflags:  .long 0
rec_flags: .long 0

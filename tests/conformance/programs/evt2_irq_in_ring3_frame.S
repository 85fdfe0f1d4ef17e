# title: the timer's IRQ 0 (vector 0x20, a DPL-0 interrupt gate) arriving while ring 3 spins with IF=1: the stack switches to TSS.SS0:ESP0 (handler ESP = ESP0 - 20), the frame is SS, ESP, EFLAGS (IF=1, RF=0), CS, EIP of the interrupted JMP, no error code; the gate's DPL is not checked for a hardware interrupt; the handler runs with IF=0
# sdm: vol. 3A 6.12.1 (figure 6-4), 6.12.1.1 ("The processor checks the DPL of the interrupt or trap gate only if an exception or interrupt is generated with an INT n, INT3, or INTO instruction"), 6.12.1.3; vol. 3B 18.3.1.1 (RF pushed as is for an interrupt between instructions)
# paravirt: n/a an external interrupt through an IDT gate with the TSS's ring-0 stack: a PV kernel has no IDT, TSS or PIC (events come through the hypervisor)
# expect:
# | handler esp = esp0 - 20: 0x00000001
# | frame eip is the spin loop: 0x00000001
# | frame cs = 0x0000002b
# | frame eflags = 0x00000202
# | frame esp = ustack_top: 0x00000001
# | frame ss = 0x00000033
# | handler eflags = 0x00000002
.include "conf.inc"
main:
    SET_GATE idt, TIMER_VECTOR, irq0, 0x8E  # DPL 0: from ring 3 only hardware may use it
    SET_GATE idt, 0x43, recorder, 0x8E  # the recorder: [rec_flags] = the EFLAGS it was given
    mov dword ptr [tss + TSS_ESP0], offset stack_top
    mov al, 0xFE                        # unmask IRQ 0 (the timer)
    out PIC_DATA, al
    TO_RING3 user, 0x202                # IF = 1, IOPL 0
user:                                   # (IRQ 0 may be pending already: the frame is the same)
spin:
    jmp spin
irq0:
    mov [h_esp], esp                    # DS is the flat ring-3 data segment: usable here
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
    int 0x43
    mov eax, [rec_flags]
    mov [h_eflags], eax
    mov al, 0xFF                        # mask every IRQ, EOI
    out PIC_DATA, al
    mov al, 0x20
    out PIC_CMD, al
    mov ax, KERNEL_DS
    mov ds, ax
    mov es, ax
    xor edx, edx
    cmp dword ptr [h_esp], offset stack_top - 20
    sete dl
    SHOW "handler esp = esp0 - 20: ", edx
    xor edx, edx
    cmp dword ptr [fr], offset spin
    sete dl
    SHOW "frame eip is the spin loop: ", edx
    movzx eax, word ptr [fr + 4]
    SHOW "frame cs = ", eax
    SHOW "frame eflags = ", [fr + 8]
    xor edx, edx
    cmp dword ptr [fr + 12], offset ustack_top
    sete dl
    SHOW "frame esp = ustack_top: ", edx
    movzx eax, word ptr [fr + 16]
    SHOW "frame ss = ", eax
    SHOW "handler eflags = ", [h_eflags]
    EXIT 0
recorder:
    push dword ptr [esp + 8]
    pop dword ptr [rec_flags]
    iretd
.section .data
h_esp:     .long 0
h_eflags:  .long 0
fr:        .space 20
rec_flags: .long 0
           .space 1024
stack_top:

# The timer may interrupt only while the (virtual) interrupt flag is set: a hidden scenario of
# exercise 01 whose output depends on it. Phase 1 runs a loop with IF=1 and counts timer ticks;
# phase 2 runs the same loop after CLI (the ticks must wait); STI then lets the pending tick in.
# A handler that only skips (or sets IF on CLI) prints other counts than the reference.
.include "vlab.inc"
.section .text
.globl _start
_start:
    mov esp, 0x90000
    SET_GATE idt, TIMER_VECTOR, tick, 0x8E
    lidt [idt_desc]
    mov eax, 700                                # a tick every 700 instructions
    out TIMER_PORT, eax
    mov al, 0xFE                                # unmask IRQ0
    out PIC_DATA, al
    sti                                         # phase 1: interrupts on
    mov ecx, 4000
1:  dec ecx
    jnz 1b
    cli                                         # phase 2: interrupts off
    mov eax, [ticks]
    mov [ticks_on], eax
    mov ecx, 4000
2:  dec ecx
    jnz 2b
    mov eax, [ticks]
    sub eax, [ticks_on]
    mov [ticks_off], eax
    sti                                         # a tick pending since phase 2 arrives now
    mov ecx, 100
3:  dec ecx
    jnz 3b
    cli
    PRINT "ticks with IF=1: "
    mov eax, [ticks_on]
    call putdec
    call newline
    PRINT "ticks with IF=0: "
    mov eax, [ticks_off]
    call putdec
    call newline
    PRINT "ticks after STI: "
    mov eax, [ticks]
    sub eax, [ticks_on]
    sub eax, [ticks_off]
    call putdec
    call newline
    EXIT 0

tick:
    push eax
    inc dword ptr [ticks]
    mov al, 0x20                                # EOI
    out PIC_CMD, al
    pop eax
    iretd

.section .data
.align 4
    .word 0
idt_desc:   .word (TIMER_VECTOR + 1) * 8 - 1
            .long idt
ticks:      .long 0
ticks_on:   .long 0
ticks_off:  .long 0
.align 8
idt:        .space (TIMER_VECTOR + 1) * 8
.include "lib.inc"

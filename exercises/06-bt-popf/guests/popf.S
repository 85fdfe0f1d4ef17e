# POPF must set the virtual interrupt flag from the popped value (the timer then interrupts, or
# waits), load the arithmetic flags, and pop exactly one doubleword.
.include "vlab.inc"
.section .text
.globl _start
_start:
    mov esp, 0x90000
    SET_GATE idt, TIMER_VECTOR, tick, 0x8E
    lidt [idt_desc]
    mov eax, 500                                # a tick every 500 instructions
    out TIMER_PORT, eax
    mov al, 0xFE                                # unmask IRQ0
    out PIC_DATA, al
    mov esi, esp
    push 0x202                                  # IF=1
    popfd
    mov ecx, 3000
1:  dec ecx
    jnz 1b
    push 0x002                                  # IF=0
    popfd
    mov eax, [ticks]
    mov [ticks_on], eax
    mov ecx, 3000
2:  dec ecx
    jnz 2b
    PRINT "ticks after POPF set IF: "
    mov eax, [ticks_on]
    call putdec
    call newline
    PRINT "ticks after POPF cleared IF: "
    mov eax, [ticks]
    sub eax, [ticks_on]
    call putdec
    call newline
    push 0x003                                  # CF=1, IF=0
    popfd
    mov eax, 0
    adc eax, 0
    PRINT "CF: "
    call putdec
    call newline
    PRINT "stack: "
    cmp esp, esi
    jne 3f
    PRINT "ok"
    jmp 4f
3:  PRINT "broken"
4:  call newline
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
.align 8
idt:        .space (TIMER_VECTOR + 1) * 8
.include "lib.inc"

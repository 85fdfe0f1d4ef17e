# POPF: can it turn interrupts on? Counts timer ticks after a POPF that sets IF
# Demo guest: at CPL > IOPL, POPF silently leaves IF alone (no trap), so no tick arrives.
.include "vlab.inc"
.section .text
.globl _start
_start:
    SET_GATE idt, 0x20, tick, 0x8E
    lidt [idt_desc]
    mov eax, 1000                       # a tick every 1000 instructions
    out TIMER_PORT, eax
    mov al, 0xFE                        # unmask the timer
    out PIC_DATA, al
    cli
    push 0x202                          # EFLAGS with IF = 1
    popfd                               # sensitive: the only thing that may enable interrupts
    mov ecx, 5000
1:  dec ecx                             # 10,000 instructions: ~10 ticks if interrupts are on
    jnz 1b
    cli
    PRINT "POPF with IF=1, then 10000 instructions: ticks = "
    mov eax, [ticks]
    call putdec
    call newline
    EXIT 0
tick:
    push eax
    inc dword ptr [ticks]
    mov al, 0x20
    out PIC_CMD, al
    pop eax
    iretd
.include "lib.inc"
.section .data
.align 4
    .word 0
idt_desc: .word 0x21 * 8 - 1
          .long idt
ticks:    .long 0
.align 8
idt:      .space 0x21 * 8

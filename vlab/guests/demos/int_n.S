# INT n: a software interrupt through a DPL-0 gate
# Demo guest: the gate check compares the gate's DPL with the (real) CPL.
.include "vlab.inc"
.section .text
.globl _start
_start:
    SET_GATE idt, 0x30, handler, 0x8E
    lidt [idt_desc]
    int 0x30                            # sensitive: gate DPL checked against the real CPL
    PRINT "INT 0x30: handler ran, CS there = "
    mov eax, [seen_cs]
    call puthex
    call newline
    EXIT 0
handler:
    mov [seen_cs], cs
    iretd
.include "lib.inc"
.section .data
.align 4
    .word 0
idt_desc: .word 0x31 * 8 - 1
          .long idt
seen_cs:  .long 0
.align 8
idt:      .space 0x31 * 8

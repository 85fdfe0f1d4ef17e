# title: an IDT at an unaligned base in the middle of RAM (0x200003): INT 0x41 is delivered with the limit exactly 0x41*8+7 and is #GP(0x41*8+2) with the limit one byte short or covering only the gate's first byte; IRQ 0 (vector 0x20) is delivered with the limit 0x107 and is #GP(0x20*8+2+1) (EXT=1: an external interrupt) with 0x106, EIP at the interrupted JMP
# sdm: vol. 3A 6.10 ("the IDT ... base address should be aligned on an 8-byte boundary to maximize performance"; "If a vector references a descriptor beyond the limit, the processor generates a general-protection exception (#GP)"), 6.13 (IDT flag, EXT flag); vol. 2A INT n ("IF ((vector_number << 3) + 7) is not within IDT limit THEN #GP((vector_number << 3) + 2 + EXT)"), LIDT
# paravirt: n/a the IDT's base and limit (LIDT) and the PIC: a PV kernel has neither
# expect:
# | limit 0x20f: int 0x41 delivered
# | exception 13, error 0x0000020a, eip +0
# | exception 13, error 0x0000020a, eip +0
# | limit 0x107: irq 0 delivered
# | exception 13, error 0x00000103, eip +0
# | done
.include "conf.inc"
.set IDT2, 0x200003
.macro LIMIT n
    mov word ptr [idtr2], \n
    lidt [idtr2]
.endm
main:
    SET_GATE idt, 0x41, h41, 0x8E
    SET_GATE idt, TIMER_VECTOR, irq0, 0x8E
    mov esi, offset idt                 # the whole IDT, copied to IDT2
    mov edi, IDT2
    mov ecx, 256 * 8
    rep movsb
    mov dword ptr [idtr2 + 2], IDT2
    LIMIT 0x20F
    int 0x41
    LIMIT 0x20E
    MARK 1f
    RESUME 2f
1:  int 0x41
2:  LIMIT 0x208
    MARK 3f
    RESUME 4f
3:  int 0x41
4:  LIMIT 0x107
    mov al, 0xFE                        # unmask IRQ 0 (the timer)
    out PIC_DATA, al
    sti
5:  cmp dword ptr [irqs], 0
    je 5b
    cli
    PRINT "limit 0x107: irq 0 delivered\n"
    LIMIT 0x106
    MARK 6f
    RESUME 7f
    sti
6:  jmp 6b
7:  cli
    mov al, 0xFF                        # mask every IRQ, EOI the one taken (in service)
    out PIC_DATA, al
    mov al, 0x20
    out PIC_CMD, al
    PRINT "done\n"
    EXIT 0
h41:
    PRINT "limit 0x20f: int 0x41 delivered\n"
    iretd
irq0:
    push eax
    inc dword ptr [irqs]
    mov al, 0x20
    out PIC_CMD, al
    pop eax
    iretd
.section .data
irqs:   .long 0
.align 4
        .word 0
idtr2:  .word 0
        .long 0

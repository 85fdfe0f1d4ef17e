# The same loop code run first uncounted, then counted (tests/test_foundations.py, tracker item 3).
#
# Phase 1 runs `spin` N1 times round with IRQ0 masked in the PIC and interrupts on: with no budget
# nothing can observe time, so vlab may run the core free (uncounted), translating spin's blocks.
# Phase 2 unmasks IRQ0 and runs the *same* spin code (same addresses) N2 times round: now every
# instruction must advance virtual time, so the timer ticks about every timer_period instructions.
# The handler counts ticks; ticks_phase1 / ticks_total record the count at the unmask and at the
# end. Instruction counts (retired, by construction, with T = ticks_total, all taken in phase 2):
#   through the unmasking OUT (label `unmasked`):  18 + 2*N1 (+ 2 with ARM_TIMER: MOV, OUT)
#   phase 2, `unmasked` up to and including CLI:   4 + 2*N2 + 6*T   (6 = the handler)
#   epilogue (two moves, EXIT):                     4
.include "vlab.inc"
.ifndef N1
.set N1, 200
.endif
.ifndef N2
.set N2, 10000
.endif
.section .text
.globl _start
_start:
    mov esp, 0x90000
    SET_GATE idt, TIMER_VECTOR, tick, 0x8E      # 6 instructions
    lidt [idt_desc]
    mov al, 0xFF                                # every IRQ masked (IRQ0 included)
    out PIC_DATA, al
    sti                                         # interrupts on, but the timer is masked
    mov ecx, N1
    call spin                                   # phase 1: 2*N1 + 1 (ret)
.ifdef ARM_TIMER
    mov eax, ARM_TIMER                          # start the timer (it was stopped at boot)
    out TIMER_PORT, eax
.endif
    mov eax, [ticks]
    mov [ticks_phase1], eax
    mov al, 0xFE                                # unmask IRQ0
    out PIC_DATA, al
unmasked:
    mov ecx, N2
    call spin                                   # phase 2: the same blocks again
    cli
phase2_end:
    mov eax, [ticks]
    mov [ticks_total], eax
    EXIT 0

spin:
    dec ecx
    jnz spin
    ret

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
idt_desc:     .word (TIMER_VECTOR + 1) * 8 - 1
              .long idt
ticks:        .long 0
ticks_phase1: .long 0xFFFFFFFF
ticks_total:  .long 0xFFFFFFFF
.align 8
idt:          .space (TIMER_VECTOR + 1) * 8

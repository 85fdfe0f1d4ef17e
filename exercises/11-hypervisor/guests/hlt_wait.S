# hlt_wait.S - exercise 11 (hidden): HLT waits for the next interrupt.
#
# The guest takes the timer (IRQ 0, vector 0x20) through its own IDT and waits for it five times
# with `sti; hlt; cli`, as a kernel's idle loop does. HLT exits (HLT exiting); the handler must
# advance past it and re-enter in the HLT activity state (SDM vol. 3C 24.4.2), so that the guest
# really waits; and since HLT follows STI, clear the blocking by STI first (26.3.1.5: HLT state
# with blocking by STI is an invalid guest state). The guest then counts its ticks and how
# many times HLT returned without one. `seed` (the grader's) sets how many times it waits.

.include "vlab.inc"

.section .text
.globl _start
_start:
    PRINT "hlt: seed "
    mov eax, [seed]
    call puthex
    call newline
    SET_GATE idt, TIMER_VECTOR, tick, 0x8E
    lidt [idtr]
    in al, PIC_DATA
    and al, 0xFE                        # IRQ 0 unmasked
    out PIC_DATA, al
    mov ecx, [seed]
    and ecx, 3
    add ecx, 4                          # 4 to 7 waits
    mov [waits], ecx
1:  mov ebx, [ticks]
    sti
    hlt                                 # in STI's shadow: the tick comes after the HLT
    cli
    cmp ebx, [ticks]
    jne 2f
    inc dword ptr [early]               # HLT returned without a tick
2:  loop 1b
    PRINT "waits "
    mov eax, [waits]
    call putdec
    PRINT ", ticks "
    mov eax, [ticks]
    call putdec
    PRINT ", returned without a tick "
    mov eax, [early]
    call putdec
    call newline
    EXIT 0

tick:
    inc dword ptr [ticks]
    push eax
    mov al, 0x20
    out PIC_CMD, al                     # EOI
    pop eax
    iretd

.include "lib.inc"

.section .data
.align 4
seed:   .long 0x0BADCAFE                # (the grader writes a fresh number here)
waits:  .long 0
ticks:  .long 0
early:  .long 0
idtr:   .word 256 * 8 - 1
        .long idt
.align 8
idt:    .fill 256, 8, 0

# Small guests that end in each vlab error class; the test picks one with --defsym CASE=n.
.include "vlab.inc"
.section .text
.globl _start
_start:
.if CASE == 1                           # InvalidOpcode: ud2 with no IDT gate for #UD
    lidt [idt_desc]
    ud2
.elseif CASE == 2                       # TripleFault: int3 with no IDT at all
    int3
.elseif CASE == 3                       # UnmappedAccess: read far outside guest RAM
    mov eax, [0x80000000]
.elseif CASE == 4                       # BudgetExhausted: a runaway loop
1:  jmp 1b
.elseif CASE == 5                       # GuestHang: HLT with interrupts off
    cli
    hlt
.elseif CASE == 6                       # TripleFault: #GP, no gates for #GP nor #DF
    lidt [idt_desc]
    push USER_DS
    push 0x80000
    push 0x2
    push USER_CS
    push offset 2f
    iretd
2:  cli
.elseif CASE == 7                       # exit code from the exit device
    EXIT 7
.endif
    EXIT 0
.section .data
.align 4
    .word 0
idt_desc: .word 0x7F
          .long idt
idt:      .space 0x80

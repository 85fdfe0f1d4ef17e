# A function that saves and restores the flags around a critical section, called in a loop with
# interrupts on: after the loop the interrupt flag must be set again, and the stack where it was.
# A PUSHF/POPF that only skips leaves IF clear (the CLI inside is never undone).
.include "vlab.inc"
.section .text
.globl _start
_start:
    sti
    mov esi, esp
    mov ecx, 5
1:  call critical
    loop 1b
    PRINT "critical sections: "
    mov eax, [count]
    call putdec
    call newline
    push 0x5A5A5A5A                             # a sentinel with bit 9 (IF) set
    pushfd
    pop eax
    pop ebx
    PRINT "IF after the loop: "
    shr eax, 9
    and eax, 1
    call putdec
    call newline
    PRINT "stack: "
    cmp ebx, 0x5A5A5A5A
    jne 2f
    cmp esp, esi
    jne 2f
    PRINT "ok"
    jmp 3f
2:  PRINT "broken"
3:  call newline
    EXIT 0
critical:
    pushfd
    cli
    inc dword ptr [count]
    popfd
    ret
.include "lib.inc"
.section .data
count: .long 0

# PUSHF must show the virtual interrupt flag (clear after CLI, set after STI) and the real
# arithmetic flags, and push exactly one doubleword. Each PUSHF is preceded by a sentinel whose
# IF bit is the wrong one, so a PUSHF that pushes nothing, or the real flags, prints other values.
.include "vlab.inc"
.section .text
.globl _start
_start:
    cli
    push 0x5A5A5A5A                             # IF bit set: wrong after CLI
    pushfd
    pop eax
    pop ebx
    mov edx, 0x5A5A5A5A
    call report
    sti
    push 0xA5A5A5A5                             # IF bit clear: wrong after STI
    pushfd
    pop eax
    pop ebx
    mov edx, 0xA5A5A5A5
    call report
    stc
    pushfd
    pop eax
    PRINT "CF after STC: "
    and eax, 1
    call putdec
    call newline
    EXIT 0

report:                                         # eax: the pushed flags, ebx: the sentinel back
    PRINT "IF: "
    shr eax, 9
    and eax, 1
    call putdec
    PRINT ", stack: "
    cmp ebx, edx
    jne 1f
    PRINT "ok"
    jmp 2f
1:  PRINT "broken"
2:  call newline
    ret
.include "lib.inc"

# A function that saves and restores the flags around a critical section, called in a loop.
.include "vlab.inc"
.section .text
.globl _start
_start:
    mov ecx, 5
1:  call critical
    loop 1b
    PRINT "critical sections: "
    mov eax, [count]
    call putdec
    call newline
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

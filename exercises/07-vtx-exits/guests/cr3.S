# CR3 through several registers, and port I/O of two sizes, under VT-x.
.include "vlab.inc"
.section .text
.globl _start
_start:
    mov esi, 0x00234000
    mov cr3, esi
    mov ebx, cr3
    PRINT "CR3 = "
    mov eax, ebx
    call puthex
    call newline
    mov edi, 0x00777000
    mov cr3, edi
    mov ecx, cr3
    PRINT "CR3 = "
    mov eax, ecx
    call puthex
    call newline
    mov eax, 5000                       # a 4-byte OUT: the timer period
    out TIMER_PORT, eax
    in eax, TIMER_PORT                  # a 4-byte IN
    PRINT "timer period = "
    call putdec
    call newline
    EXIT 0
.include "lib.inc"

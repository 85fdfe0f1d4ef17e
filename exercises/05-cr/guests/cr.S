# Moves values through CR0 and CR3 with several registers, and prints what comes back.
.include "vlab.inc"
.section .text
.globl _start
_start:
    mov ebx, cr0
    PRINT "CR0 = "
    mov eax, ebx
    call puthex
    call newline
    mov esi, 0x00123000
    mov cr3, esi
    mov edx, cr3
    PRINT "CR3 after mov cr3, esi = "
    mov eax, edx
    call puthex
    call newline
    mov edi, 0x00456000
    mov cr3, edi
    mov ecx, cr3
    PRINT "CR3 after mov cr3, edi = "
    mov eax, ecx
    call puthex
    call newline
    mov eax, cr0
    or eax, 0x20
    mov cr0, eax
    mov ebp, cr0
    PRINT "CR0 after setting NE = "
    mov eax, ebp
    call puthex
    call newline
    EXIT 0
.include "lib.inc"

# CR3 moves through EDI, EDX and ESI (each one a CR-access exit: CR3-load exiting, and with
# CR3-store exiting the reads too): the exit qualification's bits 11:8 name the register.
.include "vlab.inc"
.section .text
.globl _start
_start:
    mov edx, 0x22222222
    mov esi, 0x33333333
    mov edi, 0x00006000
    mov cr3, edi
    mov edx, cr3
    mov esi, cr3
    PRINT "CR3 written from EDI, read into EDX: "
    mov eax, edx
    call puthex
    call newline
    PRINT "and into ESI: "
    mov eax, esi
    call puthex
    call newline
    EXIT 0
.include "lib.inc"

# Control-register moves through registers other than EAX: the exit names the register (bits
# 11:8 of the qualification), and a handler that assumes EAX moves the wrong one.
.include "vlab.inc"
.section .text
.globl _start
_start:
    mov ebx, 0x11111111
    mov edx, 0x22222222
    mov ebx, cr0
    mov edi, 0x00005000
    mov cr3, edi
    mov edx, cr3
    mov esi, cr0
    PRINT "CR0 read into EBX: "
    mov eax, ebx
    call puthex
    call newline
    PRINT "CR3 written from EDI, read into EDX: "
    mov eax, edx
    call puthex
    call newline
    PRINT "CR0 read into ESI: "
    mov eax, esi
    call puthex
    call newline
    EXIT 0
.include "lib.inc"

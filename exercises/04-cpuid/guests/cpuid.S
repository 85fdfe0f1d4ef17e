# Asks CPUID what it is running on, and prints it.
.include "vlab.inc"
.section .text
.globl _start
_start:
    xor eax, eax
    cpuid
    mov [buf], ebx
    mov [buf + 4], edx
    mov [buf + 8], ecx
    PRINT "vendor: "
    mov esi, offset buf
    call puts
    call newline
    mov eax, 1
    cpuid
    mov ebx, ecx
    PRINT "VMX: "
    mov eax, ebx
    shr eax, 5
    and eax, 1
    call putdec
    PRINT " hypervisor: "
    mov eax, ebx
    shr eax, 31
    call putdec
    call newline
    mov eax, 0x40000000
    cpuid
    mov [buf], ebx
    mov [buf + 4], ecx
    mov [buf + 8], edx
    PRINT "max hypervisor leaf: "
    call puthex
    PRINT " signature: "
    mov esi, offset buf
    call puts
    call newline
    EXIT 0
.include "lib.inc"
.section .data
buf: .space 16

# How an operating system detects a hypervisor: the hypervisor bit of leaf 1 first, then the
# signature at leaf 0x40000000 (and that VMX is not offered to it). Prints one verdict.
.include "vlab.inc"
.section .text
.globl _start
_start:
    mov eax, 1
    cpuid
    bt ecx, 31
    jnc bare
    bt ecx, 5
    jc leaked
    mov eax, 0x40000000
    cpuid
    mov [sig], ebx
    mov [sig + 4], ecx
    mov [sig + 8], edx
    cmp eax, 0x40000000
    jb no_leaves
    PRINT "hypervisor detected: "
    mov esi, offset sig
    call puts
    call newline
    EXIT 0
bare:
    PRINT "no hypervisor: bare metal"
    call newline
    EXIT 0
leaked:
    PRINT "a hypervisor that leaks VMX to its guest"
    call newline
    EXIT 0
no_leaves:
    PRINT "a hypervisor bit but no hypervisor leaves"
    call newline
    EXIT 0
.include "lib.inc"
.section .data
sig: .space 16

# cpuid_leaves.S - exercise 11 (hidden): CPUID leaves and subleaves through the hypervisor.
#
# CPUID exits unconditionally (SDM vol. 3C 25.1.2). The handler must run CPUID for the guest
# with the guest's EAX (the leaf) and ECX (the subleaf: leaves 4 and 0xD answer differently
# for each), give back all four registers, and in leaf 1 set ECX[31] (a hypervisor is
# present) and clear ECX[5] (VMX: this hypervisor does not nest). Before each CPUID the guest
# fills EBX and EDX with `seed` (the grader's fresh random number): a register the handler
# forgets keeps it.

.include "vlab.inc"

.section .text
.globl _start
_start:
    PRINT "cpuid: seed "
    mov eax, [seed]
    call puthex
    call newline
    mov esi, offset leaves
1:  mov eax, [esi]
    cmp eax, -1
    je 2f
    call puthex                         # "leaf/subleaf:"
    mov al, '/'
    call putc
    mov eax, [esi + 4]
    call putdec
    mov al, ':'
    call putc
    mov eax, [esi]
    mov ecx, [esi + 4]
    mov ebx, [seed]
    mov edx, ebx
    not edx
    cpuid
    call space_hex
    mov eax, ebx
    call space_hex
    mov eax, ecx
    call space_hex
    mov eax, edx
    call space_hex
    call newline
    add esi, 8
    jmp 1b
2:  EXIT 0

space_hex:
    push eax
    mov al, ' '
    call putc
    pop eax
    jmp puthex

.include "lib.inc"

.section .data
.align 4
leaves: .long 0, 0, 1, 0, 4, 0, 4, 1, 4, 2, 0xD, 0, 0xD, 1, 0x80000000, 0, -1
seed:   .long 0x0BADCAFE                # (the grader writes a fresh number here)

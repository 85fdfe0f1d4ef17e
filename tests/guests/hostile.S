# Hostile guests (choose with --defsym CASE=n): each tries to reach what the monitor owns.
.include "vlab.inc"
.section .text
.globl _start
_start:
.if CASE == 1                           # overwrite the monitor's GDT with a ring-0 code segment
    mov dword ptr [0xFFFF2008], 0x0000FFFF
    mov dword ptr [0xFFFF200C], 0x00CF9A00
.elseif CASE == 2                       # rewrite the TSS the monitor owns (its ring-0 stack)
    mov dword ptr [0xFFFF0104], 0x00001000
.elseif CASE == 3                       # jump into the monitor's trampoline
    mov eax, 0xFFFF0200
    jmp eax
.elseif CASE == 4                       # read and write beyond guest RAM
    mov eax, [0x00500000]
.elseif CASE == 5                       # write into the middle of the monitor's stack
    mov dword ptr [0xFFFF0FF0], 0xDEADBEEF
.endif
    EXIT 0

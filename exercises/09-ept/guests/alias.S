# Paging with a page that is first touched through an alias: linear 0x40000000 maps the frame at
# 0x300000, which nothing has touched before. Its EPT violation names two different addresses.
.include "vlab.inc"
.globl _start
_start:
    mov ecx, 0                          # identity-map the first 4 MiB (the kernel's view)
1:  mov edx, ecx
    shl edx, 12
    or edx, 3
    mov [pt + ecx * 4], edx
    inc ecx
    cmp ecx, 1024
    jb 1b
    mov eax, offset pt
    or eax, 3
    mov [pd], eax
    mov eax, offset alias_pt
    or eax, 3
    mov [pd + 4 * 256], eax             # PDE 256: linear 0x40000000 ...
    mov dword ptr [alias_pt], 0x300003  # ... -> the frame at 0x300000
    mov eax, offset pd
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    mov eax, [0x40000000]               # first touch of frame 0x300000, through the alias
    mov dword ptr [0x40000004], 0x1234
    mov eax, [0x300004]                 # the same memory through the identity map
    PRINT "through the alias: "
    call puthex
    call newline
    EXIT 0
.include "lib.inc"
.section .data
.balign 4096
pd:       .space 4096
pt:       .space 4096
alias_pt: .space 4096

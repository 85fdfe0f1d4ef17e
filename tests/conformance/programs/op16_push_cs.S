# title: PUSH CS with the 66 prefix pushes 2 bytes (the selector); without it 4
# sdm: vol. 2B PUSH ("If the source operand is a segment register (16 bits) and the operand size is 16 bits, a 16-bit value is pushed")
# expect:
# | pushw cs: esp delta = 0x00000002, word & 0xfffc = 0x00000008
# | pushd cs: esp delta = 0x00000004
.include "conf.inc"
main:
    mov ebx, esp
    pushw cs
    sub ebx, esp
    movzx ecx, word ptr [esp]
    and ecx, 0xFFFC                     # the selector; its RPL (the CPL) is ri_push_seg's subject
    add esp, 2
    PRINT "pushw cs: esp delta = "
    mov eax, ebx
    call puthex
    PRINT ", word & 0xfffc = "
    mov eax, ecx
    call puthex
    call newline
    mov ebx, esp
    push cs
    sub ebx, esp
    add esp, 4
    SHOW "pushd cs: esp delta = ", ebx
    EXIT 0

# title: POP DS with the 66 prefix pops 2 bytes and loads the selector
# sdm: vol. 2B POP (16-bit operand size: ESP += 2)
# expect:
# | popw ds: esp delta = 0x00000002
# | ds = 0x00000033
.include "conf.inc"
main:
    pushw USER_DS
    mov ebx, esp
    popw ds
    mov eax, esp
    sub eax, ebx
    mov bx, KERNEL_DS
    mov cx, ds
    mov ds, bx
    SHOW "popw ds: esp delta = ", eax
    movzx eax, cx
    SHOW "ds = ", eax
    EXIT 0

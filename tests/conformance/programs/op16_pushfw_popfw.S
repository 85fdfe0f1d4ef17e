# title: PUSHFW / POPFW (operand-size prefix) move 2 bytes: FLAGS only
# sdm: vol. 2B PUSHF/PUSHFD ("operand-size attribute 16: push FLAGS"), POPF/POPFD
# expect:
# | pushfw: esp delta = 0x00000002
# | pushfw: flags[7:0] = 0x00000046
# | popfw: esp delta = 0x00000000
# | popfw: CF = 0x00000001
.include "conf.inc"
main:
    mov ebx, esp
    xor eax, eax                        # ZF=1, PF=1, CF=0
    pushfw
    sub ebx, esp
    SHOW "pushfw: esp delta = ", ebx
    movzx eax, byte ptr [esp]           # the arithmetic flags only (IF is ri_pushf's subject)
    SHOW "pushfw: flags[7:0] = ", eax
    mov word ptr [esp], 0x0003          # CF=1
    popfw
    setc bl
    mov eax, esp
    sub eax, 0x100000
    neg eax
    SHOW "popfw: esp delta = ", eax
    movzx eax, bl
    SHOW "popfw: CF = ", eax
    EXIT 0

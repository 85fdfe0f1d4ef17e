# title: #DE is a fault: DIV by zero, a DIV whose quotient does not fit, and IDIV of the most negative dividend by -1 each raise vector 0 with the saved EIP at the divide, in ring 0 and in ring 3; the registers keep their values (the instruction did not complete)
# sdm: vol. 2A DIV and IDIV ("#DE: if the source operand (divisor) is 0; if the quotient is too large for the designated register"); vol. 3A 6.5 (faults: the saved CS:EIP points to the faulting instruction), 6.15 "Interrupt 0-Divide Error Exception"
# expect:
# | exception 0, eip +0
# | by zero: eax kept = 0x00001234
# | exception 0, eip +0
# | quotient too large: edx kept = 0x00000002
# | exception 0, eip +0
# | idiv overflow: eax kept = 0x80000000
# | exception 0, eip +0, ring 3
# | done
.include "conf.inc"
main:
    mov eax, 0x1234
    xor edx, edx
    xor ecx, ecx
    MARK 1f
    RESUME 2f
1:  div ecx                             # divisor 0
2:  SHOW "by zero: eax kept = ", eax
    mov edx, 2
    xor eax, eax
    mov ecx, 2                          # 0x2_0000_0000 / 2 = 0x1_0000_0000: does not fit
    MARK 3f
    RESUME 4f
3:  div ecx
4:  SHOW "quotient too large: edx kept = ", edx
    mov eax, 0x80000000
    cdq                                 # EDX:EAX = -2^31
    mov ecx, -1                         # -2^31 / -1 = 2^31: does not fit in a signed dword
    MARK 5f
    RESUME 6f
5:  idiv ecx
6:  SHOW "idiv overflow: eax kept = ", eax
    MARK 7f
    RESUME 8f
    TO_RING3 user
user:
    xor ecx, ecx
7:  div ecx
8:  UPRINT "done\n"
    mov eax, 3
    int 0x80

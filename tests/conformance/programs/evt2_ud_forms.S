# title: #UD is a fault, with the saved EIP at the invalid instruction: UD2, MOV to CS, a LOCK prefix on an instruction that cannot take it, and LDS with a register operand; in ring 0 and ring 3
# sdm: vol. 2A UD ("raises an invalid opcode exception"), MOV ("#UD if attempt is made to load the CS register"), LOCK ("#UD if the LOCK prefix is used with an instruction not in the list"), LDS ("#UD if source operand is not a memory location"); vol. 3A 6.15 "Interrupt 6-Invalid Opcode Exception" (fault)
# expect:
# | exception 6, eip +0
# | exception 6, eip +0
# | exception 6, eip +0
# | exception 6, eip +0
# | exception 6, eip +0, ring 3
# | exception 6, eip +0, ring 3
# | done
.include "conf.inc"
main:
    MARK 1f
    RESUME 2f
1:  ud2
2:  MARK 3f
    RESUME 4f
3:  .byte 0x8E, 0xC8                    # mov cs, ax
4:  MARK 5f
    RESUME 6f
5:  .byte 0xF0, 0x90                    # lock nop
6:  MARK 7f
    RESUME 8f
7:  .byte 0xC5, 0xC0                    # lds eax, eax (a register operand)
8:  MARK 9f
    RESUME 10f
    TO_RING3 user
user:
9:  ud2
10: MARK 11f
    RESUME 12f
11: .byte 0xF0, 0x90
12: UPRINT "done\n"
    mov eax, 3
    int 0x80

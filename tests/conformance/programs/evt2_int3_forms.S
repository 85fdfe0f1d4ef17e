# title: a breakpoint is a trap however it is written: INT3 (CC) saves the EIP after its one byte, INT 3 (CD 03) after its two; INTO with OF=1 (vector 4) and INT 4 likewise; from ring 3 through the DPL-0 gate both forms of INT 3 are #GP(3*8+2), a fault at the instruction
# sdm: vol. 2A INT n/INTO/INT3/INT1 ("the INT3 instruction ... one byte ... the saved EIP points to the instruction that follows"; "IF software interrupt and gate DPL < CPL THEN #GP(error_code(vector number,1,0))"); vol. 3A 6.5 (traps), 6.15 "Interrupt 3-Breakpoint Exception", "Interrupt 4-Overflow Exception"
# expect:
# | exception 3, eip +1
# | exception 3, eip +2
# | exception 4, eip +1
# | exception 4, eip +2
# | exception 13, error 0x0000001a, eip +0, ring 3
# | exception 13, error 0x0000001a, eip +0, ring 3
# | done
.include "conf.inc"
main:
    MARK 1f
    RESUME 2f
1:  int3
2:  MARK 3f
    RESUME 4f
3:  .byte 0xCD, 0x03                    # INT 3, the two-byte form
4:  mov eax, 0x7FFFFFFF
    add eax, 1                          # OF = 1
    MARK 5f
    RESUME 6f
5:  into
6:  MARK 7f
    RESUME 8f
7:  int 4
8:  MARK 9f
    RESUME 10f
    TO_RING3 user
user:
9:  int3
10: MARK 11f
    RESUME 12f
11: .byte 0xCD, 0x03
12: UPRINT "done\n"
    mov eax, 3
    int 0x80

# title: INT3 through a not-present gate: #NP(3*8+2) with EXT=0 (INT3 is software), saved EIP at INT3
# sdm: vol. 2A INT3 operation; vol. 3A 6.13 ("EXT ... external to the program": not INT3)
# paravirt: n/a a not-present IDT gate (#NP): a PV kernel has no IDT; its trap table has no present bit
# expect:
# | exception 11, error 0x0000001a, eip +0
# | done
.include "conf.inc"
main:
    mov byte ptr [idt + 3 * 8 + 5], 0x0E
    MARK 1f
    RESUME 2f
1:  int3
2:  PRINT "done\n"
    EXIT 0

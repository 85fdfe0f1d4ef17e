# title: INT n through a present-bit-clear interrupt gate: #NP with error code vector*8+2 (IDT=1, EXT=0)
# sdm: vol. 2A INT n (operation: "IF gate not present THEN #NP((vector_number << 3) + 2 + EXT)"); vol. 3A 6.13
# paravirt: n/a a not-present IDT gate (#NP): a PV kernel has no IDT; its trap table has no present bit
# expect:
# | exception 11, error 0x00000202, eip +0
# | done
.include "conf.inc"
main:
    SET_GATE idt, 0x40, main, 0x0E      # a 32-bit interrupt gate with P=0
    MARK 1f
    RESUME 2f
1:  int 0x40
2:  PRINT "done\n"
    EXIT 0

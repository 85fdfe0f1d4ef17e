# title: INT3 is a trap: the saved EIP is the address after the one-byte INT3
# sdm: vol. 3A, 6.5 (faults and traps), 6.15 "Interrupt 3-Breakpoint Exception"; vol. 2A INT3
# expect:
# | exception 3, eip +1
# | done
.include "conf.inc"
main:
    MARK 1f
    RESUME 2f
1:  int3
2:  PRINT "done\n"
    EXIT 0

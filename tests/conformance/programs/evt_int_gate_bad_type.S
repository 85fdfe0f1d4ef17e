# title: INT n through an IDT entry that is not a gate (all zero): #GP(vector*8+2)
# sdm: vol. 2A INT n ("IF descriptor type is not interrupt, trap or task gate THEN #GP((vector << 3) + 2 + EXT)")
# paravirt: n/a the type of an IDT entry: a PV kernel has no IDT (a trap-table entry has no type)
# expect:
# | exception 13, error 0x00000202, eip +0
# | done
.include "conf.inc"
main:
    MARK 1f
    RESUME 2f
1:  int 0x40                            # idt[0x40] is all zero (type 0, reserved)
2:  PRINT "done\n"
    EXIT 0

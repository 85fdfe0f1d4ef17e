# title: INT1 (ICEBP, F1) raises #DB as a trap with no gate-DPL check, also from ring 3
# sdm: vol. 2A INT n/INT1 ("the privilege level check is not performed for INT1"); vol. 3A 6.15 "Interrupt 1", 18.2? (ICEBP)
# expect:
# | exception 1, eip +1
# | exception 1, eip +1, ring 3
# | done
.include "conf.inc"
main:
    MARK 1f
    RESUME 2f
1:  .byte 0xF1
2:  TO_RING3 user
user:
    MARK 3f
    RESUME 4f
3:  .byte 0xF1                          # gate 1 has DPL 0
4:  UPRINT "done\n"
    mov eax, 3
    int 0x80

# title: INT n past the IDT limit: #GP(vector*8+2)
# sdm: vol. 2A INT n ("IF ((vector << 3) + 7) is not within IDT limit THEN #GP((vector << 3) + 2 + EXT)"); vol. 3A 6.10
# paravirt: n/a the IDT limit (LIDT): a PV kernel has no IDT
# expect:
# | exception 13, error 0x00000282, eip +0
# | done
.include "conf.inc"
main:
    SET_GATE idt, 0x50, main, 0x8E      # present, but beyond the limit below
    mov word ptr [idt_desc], 0x40 * 8 - 1
    lidt [idt_desc]
    MARK 1f
    RESUME 2f
1:  int 0x50
2:  PRINT "done\n"
    EXIT 0

# title: #UD through a not-present gate: #NP(6*8+2+1): EXT=1 (an exception is external to the program), IDT=1; benign then contributory: no #DF
# sdm: vol. 3A 6.13 (EXT: "during delivery of an event external to the program, such as ... an earlier exception"), table 6-5
# paravirt: n/a a not-present IDT gate (#NP): a PV kernel has no IDT; its trap table has no present bit
# expect:
# | exception 11, error 0x00000033, eip +0
# | done
.include "conf.inc"
main:
    mov byte ptr [idt + 6 * 8 + 5], 0x0E
    MARK 1f
    RESUME 2f
1:  ud2
2:  PRINT "done\n"
    EXIT 0

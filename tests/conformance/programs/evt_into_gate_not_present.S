# title: INTO (OF=1) through a not-present gate: #NP(4*8+2), EXT=0 (software), saved EIP at INTO
# sdm: vol. 2A INT n/INTO operation; vol. 3A 6.13 (EXT, IDT bits)
# paravirt: n/a a not-present IDT gate (#NP): a PV kernel has no IDT; its trap table has no present bit
# expect:
# | exception 11, error 0x00000022, eip +0
# | done
.include "conf.inc"
main:
    mov byte ptr [idt + 4 * 8 + 5], 0x0E    # gate 4: P=0
    mov eax, 0x7FFFFFFF
    add eax, 1
    MARK 1f
    RESUME 2f
1:  into
2:  PRINT "done\n"
    EXIT 0

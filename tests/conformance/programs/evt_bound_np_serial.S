# title: BOUND (#BR, benign) through a not-present gate: #NP(5*8+2+1) delivered serially, no #DF
# sdm: vol. 3A 6.15 "Interrupt 5" (benign, fault), table 6-5 (benign then contributory: handle serially), 6.13 (EXT=1)
# paravirt: n/a a not-present IDT gate (#NP, EXT=1, delivered serially): a PV kernel has no IDT; its trap table has no present bit, and an exception without an entry is fatal (Xen crashes the domain)
# expect:
# | exception 11, error 0x0000002b, eip +0
# | done
.include "conf.inc"
main:
    mov byte ptr [idt + 5 * 8 + 5], 0x0E
    mov eax, 10                         # out of [0, 5]
    MARK 1f
    RESUME 2f
1:  bound eax, [bounds]
2:  PRINT "done\n"
    EXIT 0
.section .data
bounds: .long 0, 5

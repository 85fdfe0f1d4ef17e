# title: a #PF whose gate is not present: page fault then contributory (#NP) is a double fault
# sdm: vol. 3A table 6-5 ("Page Fault" first, "Contributory" second: double fault)
# paravirt: n/a #DF raised by a not-present IDT gate: a PV kernel has no IDT (an exception without a trap-table entry is fatal, never a #DF)
# expect:
# | exception 8, error 0x00000000
.include "conf.inc"
.include "paging.inc"
main:
    call paging_on
    mov byte ptr [idt + 14 * 8 + 5], 0x0E
    mov eax, [0x800000]                     # PDE 2 not present
    PRINT "no fault\n"
    EXIT 0

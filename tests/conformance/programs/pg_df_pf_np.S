# title: a #PF whose gate is not present: page fault then contributory (#NP) is a double fault
# sdm: vol. 3A table 6-5 ("Page Fault" first, "Contributory" second: double fault)
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

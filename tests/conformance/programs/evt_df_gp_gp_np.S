# title: #GP whose gate is not present: contributory then contributory (#NP) is a double fault, error code 0
# sdm: vol. 3A 6.15 "Interrupt 8-Double Fault Exception", table 6-4 (classes), table 6-5 (combinations)
# paravirt: n/a #DF raised by a not-present IDT gate: a PV kernel has no IDT (an exception without a trap-table entry is fatal, never a #DF)
# expect:
# | exception 8, error 0x00000000
.include "conf.inc"
main:
    mov byte ptr [idt + 13 * 8 + 5], 0x0E   # gate 13: P=0
    mov ax, 0x100                       # past the GDT limit
    mov ds, ax                          # #GP(0x100) -> #NP(13*8+2+1) -> #DF
    PRINT "no fault\n"
    EXIT 0

# title: #DE (contributory) through a not-present gate: the #NP while delivering it becomes #DF
# sdm: vol. 3A 6.15 "Interrupt 0" (contributory), table 6-5
# paravirt: n/a #DF raised by a not-present IDT gate: a PV kernel has no IDT (an exception without a trap-table entry is fatal, never a #DF)
# expect:
# | exception 8, error 0x00000000
.include "conf.inc"
main:
    mov byte ptr [idt + 0 * 8 + 5], 0x0E
    xor edx, edx
    xor ecx, ecx
    mov eax, 1
    div ecx
    PRINT "no fault\n"
    EXIT 0

# title: #NP raised by loading a not-present segment, with gate 11 not present: contributory twice -> #DF
# sdm: vol. 3A table 6-5; vol. 2A MOV (segment not present -> #NP(selector))
# paravirt: n/a #DF raised by a not-present IDT gate: a PV kernel has no IDT (an exception without a trap-table entry is fatal, never a #DF)
# expect:
# | exception 11, error 0x00000040, eip +0
# | exception 8, error 0x00000000
.include "conf.inc"
main:
    mov edi, offset gdt + GDT_SPARE     # 0x40: data, P=0
    xor eax, eax
    mov ebx, 0xFFFFF
    mov cl, 0x12
    mov ch, 0xC
    call mkdesc
    mov ax, GDT_SPARE
    MARK 1f
    RESUME 2f
1:  mov ds, ax                          # #NP(0x40), gate present: reported
2:  mov byte ptr [idt + 11 * 8 + 5], 0x0E
    mov ax, GDT_SPARE
    mov ds, ax                          # #NP(0x40) -> #NP(11*8+2+1) -> #DF
    PRINT "no fault\n"
    EXIT 0

# title: #UD through a gate whose code selector is beyond the GDT limit: #GP(selector + EXT=1)
# sdm: vol. 2A INT n ("IF new code-segment selector is not within its descriptor table limits THEN #GP(selector + EXT)"); vol. 3A 6.13
# paravirt: n/a the code selector of an IDT gate: a PV kernel has no IDT (the hypervisor, not the CPU's gate checks, judges a trap-table entry's CS)
# expect:
# | exception 13, error 0x00000101, eip +0
# | done
.include "conf.inc"
main:
    mov word ptr [idt + 6 * 8 + 2], 0x100   # gate 6: selector 0x100 (index 32; the GDT has 16)
    MARK 1f
    RESUME 2f
1:  ud2
2:  PRINT "done\n"
    EXIT 0

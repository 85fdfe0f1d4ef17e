# title: INT3, INT n and INTO from ring 3 through DPL-0 gates: #GP(vector*8+2), saved EIP at the instruction
# sdm: vol. 2A INT n ("IF software interrupt AND gate DPL < CPL THEN #GP((vector << 3) + 2)"); vol. 3A 6.12.1.1
# paravirt: n/a the DPL of IDT gates for INT3, INT n and INTO from ring 3: a PV kernel has no IDT (Xen's own gates for INT3 and INTO are DPL 3: it does not check the trap table's DPL for them)
# expect:
# | exception 13, error 0x0000001a, eip +0, ring 3
# | exception 13, error 0x0000020a, eip +0, ring 3
# | exception 13, error 0x00000022, eip +0, ring 3
# | done
.include "conf.inc"
main:
    SET_GATE idt, 0x41, main, 0x8E      # present, DPL 0
    TO_RING3 user
user:
    MARK 1f
    RESUME 2f
1:  int3
2:  MARK 3f
    RESUME 4f
3:  int 0x41
4:  mov eax, 0x7FFFFFFF
    add eax, 1                          # OF=1 (MARK/RESUME are MOVs: flags kept)
    MARK 5f
    RESUME 6f
5:  into
6:  UPRINT "done\n"
    mov eax, 3
    int 0x80

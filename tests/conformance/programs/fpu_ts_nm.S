# title: with CR0.TS=1 an x87 instruction raises #NM (vector 7, a fault: EIP at the instruction); after CLTS it runs
# sdm: vol. 3A 2.5 (CR0.TS), 6.15 "Interrupt 7-Device Not Available Exception" (table 2-2: EM/MP/TS actions)
# paravirt: n/a CR0.TS, MP and CLTS: the control registers are the hypervisor's (Xen's fpu_taskswitch is not in vlab)
# expect:
# | exception 7, eip +0
# | after CLTS: fld1 ran
.include "conf.inc"
main:
    mov eax, cr0
    and eax, ~0x4                       # EM=0
    or eax, 0x22                        # MP=1, NE=1
    mov cr0, eax
    fninit
    mov eax, cr0
    or eax, 0x8                         # TS=1
    mov cr0, eax
    MARK 1f
    RESUME 2f
1:  fld1
2:  clts
    fld1
    fstp st(0)
    PRINT "after CLTS: fld1 ran\n"
    EXIT 0

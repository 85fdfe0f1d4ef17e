# title: with CR0.EM=1 (TS=0) an x87 instruction raises #NM; WAIT does not (it faults only with TS=1 and MP=1)
# sdm: vol. 3A 2.5, table 2-2 ("EM=1: x87 instructions #NM; WAIT/FWAIT: executed"), 6.15 "Interrupt 7"
# paravirt: n/a CR0.EM: the control registers are the hypervisor's
# expect:
# | exception 7, eip +0
# | wait with EM=1: no fault
.include "conf.inc"
main:
    fninit
    mov eax, cr0
    and eax, ~0xA                       # TS=0, MP=0
    or eax, 0x4                         # EM=1
    mov cr0, eax
    MARK 1f
    RESUME 2f
1:  fld1
2:  wait
    PRINT "wait with EM=1: no fault\n"
    EXIT 0

# title: WAIT with TS=1: #NM only when MP=1 too
# sdm: vol. 3A table 2-2 (EM, MP, TS: "WAIT/FWAIT ... #NM exception if MP=1 and TS=1"); vol. 2B WAIT
# paravirt: n/a CR0.TS and MP: the control registers are the hypervisor's (Xen's fpu_taskswitch is not in vlab)
# expect:
# | TS=1 MP=0: wait ran
# | exception 7, eip +0
# | done
.include "conf.inc"
main:
    fninit
    mov eax, cr0
    and eax, ~0x6                       # EM=0, MP=0
    or eax, 0x8                         # TS=1
    mov cr0, eax
    wait
    PRINT "TS=1 MP=0: wait ran\n"
    mov eax, cr0
    or eax, 0x2                         # MP=1
    mov cr0, eax
    MARK 1f
    RESUME 2f
1:  wait
2:  PRINT "done\n"
    EXIT 0

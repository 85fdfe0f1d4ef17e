# title: Robin & Irvine: far CALL to the ring-0 code selector runs there at CPL 0 and pushes the caller's CS (RPL 0)
# sdm: vol. 2A CALL (far, same privilege: "IF DPL != CPL THEN #GP"), 3A 5.8.1
# diverges: trap_emulate far CALL is not trapped: it runs at ring 1 (CS RPL 1 seen, or a #GP for the DPL-0 target)
# paravirt: n/a CS of RPL 0 after a far CALL at ring 0: a PV kernel runs in ring 1 (it sees 0x09)
# expect:
# | callee cs = 0x00000008
# | pushed cs = 0x00000008
.include "conf.inc"
main:
    lcall KERNEL_CS, offset far_fn
    SHOW "callee cs = ", ebx
    SHOW "pushed cs = ", ecx
    EXIT 0
far_fn:
    xor ebx, ebx
    mov bx, cs
    mov ecx, [esp + 4]
    and ecx, 0xFFFF
    lret

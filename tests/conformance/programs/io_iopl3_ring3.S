# title: ring 3 with IOPL 3 uses a port the bitmap denies, without a fault
# sdm: vol. 1, 19.5.1 (CPL <= IOPL: the bitmap is not consulted)
# diverges: trap_emulate the kernel's IRET to ring 3 runs at ring 1, where IRET cannot change IOPL (a virtualization hole): the user task keeps IOPL 0
# paravirt: n/a IOPL 3 given to ring 3 by an IRET at ring 0: only ring 0 sets IOPL (Xen's PHYSDEVOP_set_iopl is not in vlab)
# expect:
# | IOPL 3: IN at ring 3 done
.include "conf.inc"
main:
    TO_RING3 user, 0x3002
user:
    mov dx, SERIAL_LSR
    in al, dx
    UPRINT "IOPL 3: IN at ring 3 done\n"
    mov eax, 3
    int 0x80

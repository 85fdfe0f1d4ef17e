# title: a 16-bit IN checks every byte's bitmap bit: with 0x3FD allowed but 0x3FC denied, IN AX,0x3FC faults; once both are clear it does not
# sdm: vol. 1, 19.5.2 ("... a word access to a port checks the bits for both ... ports")
# paravirt: n/a the TSS's I/O permission bitmap: the TSS is the hypervisor's (Xen's PHYSDEVOP_set_iobitmap is not in vlab)
# expect:
# | exception 13, error 0x00000000, eip +0, ring 3
# | second IN: no fault
.include "conf.inc"
main:
    and byte ptr [iomap + 0x3FD / 8], ~(1 << (0x3FD % 8))
    MARK 1f
    RESUME 2f
    TO_RING3 user
user:
    mov dx, 0x3FC
1:  in ax, dx
2:  UBACK k
k:  and byte ptr [iomap + 0x3FC / 8], ~(1 << (0x3FC % 8))
    TO_RING3 user2
user2:
    mov dx, 0x3FC
    in ax, dx
    UPRINT "second IN: no fault\n"
    mov eax, 3
    int 0x80

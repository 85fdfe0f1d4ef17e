# title: IN from ring 3 with IOPL 0 and the port's I/O-bitmap bit set: #GP(0)
# sdm: vol. 1, 19.5.1/19.5.2 (I/O privilege level, I/O permission bit map) ["18.5" in older editions]; vol. 2A IN
# expect:
# | exception 13, error 0x00000000, eip +0, ring 3
# | done
.include "conf.inc"
main:
    MARK 1f
    RESUME 2f
    TO_RING3 user
user:
    mov dx, SERIAL_LSR
1:  in al, dx
2:  UPRINT "done\n"
    mov eax, 3
    int 0x80

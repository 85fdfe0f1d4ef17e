# title: ring 1 with IOPL 1 may use any port (no bitmap check); with IOPL 0 it gets #GP(0)
# sdm: vol. 1, 19.5.1 (CPL <= IOPL: I/O allowed), 19.5.2 (bitmap only when CPL > IOPL)
# paravirt: n/a ring-1 code apart from the kernel, given IOPL 1 by the kernel: a PV kernel is itself ring 1, and only ring 0 sets IOPL
# expect:
# | IOPL 1: IN at ring 1 done
# | exception 13, error 0x00000000, eip +0, ring 1
# | done
.include "conf.inc"
main:
    TO_RING1 r1, 0x1002
r1:
    mov dx, SERIAL_LSR
    in al, dx
    UPRINT "IOPL 1: IN at ring 1 done\n"
    UBACK k
k:  MARK 1f
    RESUME 2f
    TO_RING1 r1b, 0x0002
r1b:
    mov dx, SERIAL_LSR
1:  in al, dx
2:  UPRINT "done\n"
    mov eax, 3
    int 0x80

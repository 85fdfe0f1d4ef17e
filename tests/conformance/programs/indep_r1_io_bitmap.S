# title: I/O at ring 1 with IOPL 0 goes by the TSS bitmap: with only port 0x3fd's bit clear, a byte IN from 0x3fd works, a word IN from 0x3fd (needs 0x3fe too) and a byte IN from 0x3fc are #GP(0) from ring 1; with IOPL 1 the bitmap is not consulted
# sdm: vol. 1 19.5.1 "I/O Privilege Level" (CPL <= IOPL: allowed; otherwise the bitmap), 19.5.2 "I/O Permission Bit Map" (#GP if any of the bits for the port(s) accessed is set: a word access checks the bits of both its ports); vol. 2A IN ("IF ((PE = 1) and ((CPL > IOPL) or (VM = 1))) THEN IF (Any I/O Permission Bit for I/O port being accessed = 1) THEN #GP(0)")
# paravirt: n/a ring-1 code apart from the kernel, and the TSS's I/O bitmap: a PV kernel is itself ring 1 and has no TSS
# expect:
# | IOPL 0: byte from 0x3fd allowed
# | exception 13, error 0x00000000, eip +0, ring 1
# | exception 13, error 0x00000000, eip +0, ring 1
# | IOPL 1: byte from 0x3fc allowed
# | done
.include "conf.inc"
main:
    and byte ptr [iomap + 0x3FD / 8], ~(1 << (0x3FD % 8))   # only port 0x3fd allowed
    TO_RING1 r1a, 0x0002                # IOPL 0
r1a:
    mov dx, 0x3FD
    in al, dx
    UPRINT "IOPL 0: byte from 0x3fd allowed\n"
    MARK 1f
    RESUME 2f
1:  in ax, dx                           # ports 0x3fd and 0x3fe
2:  MARK 3f
    RESUME 4f
    mov dx, 0x3FC
3:  in al, dx
4:  UBACK k
k:  TO_RING1 r1b, 0x1002                # IOPL 1
r1b:
    mov dx, 0x3FC
    in al, dx
    UPRINT "IOPL 1: byte from 0x3fc allowed\n"
    UPRINT "done\n"
    mov eax, 3
    int 0x80

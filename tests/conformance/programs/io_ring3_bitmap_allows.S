# title: ring 3 with IOPL 0 drives the serial port itself once the TSS I/O bitmap clears 0x3F8 and 0x3FD; the exit port 0xF4 stays denied (#GP(0), nothing happens)
# sdm: vol. 1, 19.5.2 "I/O Permission Bit Map" (["18.5" in older editions]); vol. 2A OUT
# paravirt: n/a the TSS's I/O permission bitmap: the TSS is the hypervisor's (Xen's PHYSDEVOP_set_iobitmap is not in vlab)
# expect:
# | ring 3 prints this itself
# | exception 13, error 0x00000000, eip +0, ring 3
# | done
.include "conf.inc"
main:
    and byte ptr [iomap + SERIAL / 8], ~(1 << (SERIAL % 8))
    and byte ptr [iomap + SERIAL_LSR / 8], ~(1 << (SERIAL_LSR % 8))
    MARK 1f
    RESUME 2f
    TO_RING3 user
user:
    mov esi, offset msg
    call puts                           # in al, 0x3FD / out 0x3F8, al at CPL 3
    mov al, 9
1:  out EXIT_PORT, al
2:  UPRINT "done\n"
    mov eax, 3
    int 0x80
.section .data
msg: .asciz "ring 3 prints this itself\n"

# title: INSB from ring 3 with the port denied: #GP(0) and no store
# sdm: vol. 1, 19.5.2; vol. 2A INS ("#GP(0) if CPL > IOPL and any corresponding I/O permission bit in the TSS equals 1")
# expect:
# | exception 13, error 0x00000000, eip +0, ring 3
# | buffer = 0x0000abcd
.include "conf.inc"
main:
    MARK 1f
    RESUME 2f
    TO_RING3 user
user:
    mov dx, SERIAL_LSR
    mov edi, offset buffer
1:  insb
2:  USHOW "buffer = ", [buffer]
    mov eax, 3
    int 0x80
.section .data
buffer: .long 0xABCD

# title: with a TSS whose limit ends before the I/O map base, every port is denied at CPL > IOPL even if its bit would be clear
# sdm: vol. 1, 19.5.2 ("If the I/O bit map base address is greater than or equal to the TSS segment limit, there is no I/O permission map, and all I/O instructions generate exceptions when the CPL is greater than the current IOPL")
# paravirt: n/a LTR of a TSS without an I/O bitmap: the TSS is the hypervisor's
# expect:
# | exception 13, error 0x00000000, eip +0, ring 3
# | done
.include "conf.inc"
main:
    and byte ptr [iomap + SERIAL_LSR / 8], ~(1 << (SERIAL_LSR % 8))
    mov edi, offset gdt + GDT_SPARE     # 0x40: the same TSS, limit 0x67 (no room for the map)
    mov eax, offset tss
    mov ebx, 0x67
    mov cl, 0x89
    mov ch, 0
    call mkdesc
    mov ax, GDT_SPARE
    ltr ax
    MARK 1f
    RESUME 2f
    TO_RING3 user
user:
    mov dx, SERIAL_LSR
1:  in al, dx
2:  UPRINT "done\n"
    mov eax, 3
    int 0x80

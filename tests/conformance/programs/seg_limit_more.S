# title: more limits: an expand-down segment faults at and below its limit, not above; a PUSH beyond a narrow stack segment is #SS(0); REP STOSB faults at the first byte past the limit, with EDI and ECX as the stored bytes left them
# sdm: vol. 3A 5.3 "Limit Checking" (expand-down: valid offsets limit + 1 to FFFFFFFFH when B = 1), 6.15 "Interrupt 12" (#SS(0): a stack operation beyond the limit); vol. 2B STOS, REP (a fault inside a repeated instruction leaves the registers at the failing iteration)
# paravirt: n/a its own GDT descriptors built in place (mkdesc), a DPL-0 expand-down segment and a ring-3 stack segment the PV set_gdt would have to validate
# expect:
# | above the limit: no fault
# | exception 13, error 0x00000000, eip +0
# | exception 12, error 0x00000000, eip +0, ring 3
# | exception 13, error 0x00000000, eip +0
# | edi = 0x00001000
# | ecx = 0x0000000c
# | done
.include "conf.inc"
main:
    mov edi, offset gdt + GDT_SPARE     # 0x40: expand-down data, base 0x200000, limit 0xFFF, B=1
    mov eax, 0x200000
    mov ebx, 0xFFF
    mov cx, 0x496
    call mkdesc
    mov ax, GDT_SPARE
    mov es, ax
    mov byte ptr es:[0x1000], 1
    PRINT "above the limit: no fault\n"
    MARK 1f
    RESUME 2f
1:  mov byte ptr es:[0xFFF], 1
2:  mov edi, offset gdt + GDT_SPARE + 8 # 0x48: ring-3 stack, base 0, limit 0x80FFF
    xor eax, eax
    mov ebx, 0x80FFF
    mov cx, 0x4F2
    call mkdesc
    MARK 3f
    RESUME 4f
    push (GDT_SPARE + 8) | 3
    push 0x81002
    push 0x2
    push USER_CS
    push offset r3
    iretd
r3:
3:  push eax                            # writes 0x80FFE-0x81001: past the limit
4:  UBACK k
k:  mov edi, offset gdt + GDT_SPARE + 16 # 0x50: data, base 0x200000, limit 0xFFF
    mov eax, 0x200000
    mov ebx, 0xFFF
    mov cx, 0x493
    call mkdesc
    mov ax, GDT_SPARE + 16
    mov es, ax
    mov edi, 0xFF0
    mov ecx, 28
    xor eax, eax
    cld
    MARK 5f
    RESUME 6f
5:  rep stosb
6:  mov ebx, edi
    mov edx, ecx
    mov ax, KERNEL_DS
    mov es, ax
    SHOW "edi = ", ebx
    SHOW "ecx = ", edx
    PRINT "done\n"
    EXIT 0

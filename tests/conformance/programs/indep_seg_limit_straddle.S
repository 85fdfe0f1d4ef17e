# title: expand-up limit 0xFFF: a byte at 0xFFF, a word at 0xFFE and a dword at 0xFFC are in; a word at 0xFFF and a dword store at 0xFFD straddle the limit: #GP(0), nothing written; MOVSD with DS's limit 0xFFF and ESI = 0xFFE: #GP(0), ESI/EDI unchanged, destination unwritten; REP MOVSD from 0xFF0 (ECX 8) faults on its 5th element: ECX 4, ESI 0x1000, EDI + 16
# sdm: vol. 3A 5.3 "Limit Checking" (#GP, #SS for SS, on an attempt to access "a byte at an offset greater than the effective limit; a word at an offset greater than the (effective-limit - 1); a doubleword at an offset greater than the (effective-limit - 3)"); 6.15 "Interrupt 13" (#GP(0) for a limit violation through DS/ES); vol. 2B MOVS (#GP(0) "if a memory operand effective address is outside the CS, DS, ES, FS, or GS segment limit"); vol. 3A 8.2.4.1 and vol. 2B REP (a fault in a repeated string instruction leaves ECX/ESI/EDI at the failing element, EIP at the instruction)
# expect:
# | in the limit: ok
# | exception 13, error 0x00000000, eip +0
# | exception 13, error 0x00000000, eip +0
# | bytes 0xffd-0xfff = 0x00aabbcc
# | exception 13, error 0x00000000, eip +0
# | esi = 0x00000ffe
# | edi - dst = 0x00000000
# | dst = 0x77777777
# | exception 13, error 0x00000000, eip +0
# | ecx = 0x00000004
# | esi = 0x00001000
# | edi - dst = 0x00000010
# | done
.include "conf.inc"
.set SEG, GDT_SPARE
main:
    mov edi, offset gdt + SEG           # data, base 0x200000, limit 0xFFF (byte), 32-bit
    mov eax, 0x200000
    mov ebx, 0xFFF
    mov cx, 0x493
    call mkdesc
    mov dword ptr [0x200FFC], 0xAABBCC00
    mov ax, SEG
    mov es, ax
    mov al, es:[0xFFF]
    mov ax, es:[0xFFE]
    mov eax, es:[0xFFC]
    mov ax, KERNEL_DS
    mov es, ax
    PRINT "in the limit: ok\n"
    mov ax, SEG
    mov es, ax
    MARK 1f
    RESUME 2f
1:  mov ax, es:[0xFFF]                  # bytes 0xFFF, 0x1000
2:  MARK 3f
    RESUME 4f
3:  mov dword ptr es:[0xFFD], 0x11223344 # bytes 0xFFD .. 0x1000
4:  mov ax, KERNEL_DS
    mov es, ax
    mov eax, [0x200FFC]
    shr eax, 8
    SHOW "bytes 0xffd-0xfff = ", eax
    mov dword ptr [dst], 0x77777777
    cld
    mov esi, 0xFFE                      # source 0xFFE .. 0x1001 through DS
    mov edi, offset dst
    MARK 5f
    RESUME 6f
    mov ax, SEG
    mov ds, ax
5:  movsd
6:  mov ax, KERNEL_DS
    mov ds, ax
    mov ebx, esi
    mov edx, edi
    SHOW "esi = ", ebx
    sub edx, offset dst
    SHOW "edi - dst = ", edx
    SHOW "dst = ", [dst]
    mov esi, 0xFF0
    mov edi, offset dst
    mov ecx, 8
    MARK 7f
    RESUME 8f
    mov ax, SEG
    mov ds, ax
7:  rep movsd
8:  mov ax, KERNEL_DS
    mov ds, ax
    mov ebx, esi
    mov edx, edi
    mov ebp, ecx
    SHOW "ecx = ", ebp
    SHOW "esi = ", ebx
    sub edx, offset dst
    SHOW "edi - dst = ", edx
    PRINT "done\n"
    EXIT 0
.section .data
.align 4
dst: .space 32

# title: null selectors at ring 3: MOV DS, 0 and LES with a selector of 3 are allowed at CPL 3 (no privilege check on a null selector); a load through DS and a STOSB through ES are then #GP(0) from ring 3; DS reloaded with USER_DS works again
# sdm: vol. 2A MOV (protected mode: "IF DS, ES, FS, or GS is loaded with NULL selector THEN SegmentRegister <- segment selector; SegmentRegister <- segment descriptor" - the privilege checks apply only to a non-null selector; #GP(0) "if the DS, ES, FS, or GS register is used to access memory and it contains a NULL segment selector"); vol. 2A LDS/LES (the same); vol. 2B STOS (#GP(0) for a null ES); vol. 3A 3.4.2, 5.5
# expect:
# | ds = 0: loaded at ring 3
# | exception 13, error 0x00000000, eip +0, ring 3
# | es = 0x00000003
# | edi = 0x00003000
# | exception 13, error 0x00000000, eip +0, ring 3
# | edi after stosb = 0x00003000
# | ds = USER_DS: eax = 0x00000055
.include "conf.inc"
main:
    mov byte ptr [0x2000], 0x55
    TO_RING3 r3
r3:
    MARK 1f                             # (before DS is null: MARK/RESUME write through DS)
    RESUME 2f
    xor eax, eax
    mov ds, ax
    UPRINT "ds = 0: loaded at ring 3\n"
1:  mov eax, [0x2000]
2:  mov ax, USER_DS
    mov ds, ax
    MARK 3f
    RESUME 4f
    mov edi, 0x12345678
    les edi, [farptr]                   # ES = 0x0003, EDI = 0x3000
    xor ecx, ecx
    mov cx, es
    USHOW "es = ", ecx
    USHOW "edi = ", edi
    mov al, 0xAA
    cld
3:  stosb
4:  USHOW "edi after stosb = ", edi
    movzx ecx, byte ptr [0x2000]
    USHOW "ds = USER_DS: eax = ", ecx
    mov eax, 3
    int 0x80
.section .data
.align 4
farptr: .long 0x3000
        .word 3

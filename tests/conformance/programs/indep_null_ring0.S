# title: null selectors in the kernel (ring 0; ring 1 in the PV build): loading 0 into FS and 3 into GS is allowed (MOV from GS shows 3), a load through FS and a store through GS are #GP(0); LES from a far pointer whose selector is 0 loads EDI and ES without a fault, the STOSB that follows is #GP(0) with EDI unchanged
# sdm: vol. 2A MOV ("IF DS, ES, FS, or GS is loaded with NULL selector THEN SegmentRegister <- segment selector; SegmentRegister <- segment descriptor"; #GP(0) "if the DS, ES, FS, or GS register is used to access memory and it contains a NULL segment selector"); vol. 2A LDS/LES/LFS/LGS/LSS (same null-selector rule, no fault at the load); vol. 2B STOS (#GP(0) "if ... the ES register contains a NULL segment selector"); vol. 3A 3.4.2 (selectors 0-3 are null)
# expect:
# | exception 13, error 0x00000000, eip +0
# | gs = 0x00000003
# | exception 13, error 0x00000000, eip +0
# | es after les = 0x00000000
# | edi after les = 0x00003000
# | exception 13, error 0x00000000, eip +0
# | edi after stosb = 0x00003000
# | byte at 0x3000 = 0x00000055
# | done
.include "conf.inc"
main:
    mov byte ptr [0x3000], 0x55
    xor eax, eax
    mov fs, ax
    MARK 1f
    RESUME 2f
1:  mov eax, fs:[0x2000]
2:  mov ax, 3
    mov gs, ax
    xor eax, eax
    mov ax, gs
    SHOW "gs = ", eax
    MARK 3f
    RESUME 4f
3:  mov byte ptr gs:[0x2000], 1
4:  mov edi, 0x12345678
    les edi, [farptr]
    xor ebx, ebx
    mov bx, es
    mov edx, edi
    mov ax, KERNEL_DS
    mov es, ax
    SHOW "es after les = ", ebx
    SHOW "edi after les = ", edx
    les edi, [farptr]
    MARK 5f
    RESUME 6f
    mov al, 0xAA
    cld
5:  stosb
6:  mov edx, edi
    mov ax, KERNEL_DS
    mov es, ax
    SHOW "edi after stosb = ", edx
    movzx eax, byte ptr [0x3000]
    SHOW "byte at 0x3000 = ", eax
    PRINT "done\n"
    EXIT 0
.section .data
.align 4
farptr: .long 0x3000
        .word 0

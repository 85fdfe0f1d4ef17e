# title: a 1-byte data-write breakpoint hit mid-way through REP MOVSB (16 bytes, DR0 = dst+5): one #DB, after the 6th iteration, with EIP at the REP MOVSB, ECX = 10, ESI/EDI = src+6/dst+6, dst+6 not yet written; the handler's IRET back to it finishes the copy
# sdm: vol. 3B 18.3.1.2 "Data Memory and I/O Breakpoint Exception Conditions" (a trap after the access; repeated string instructions: the exception after the iteration in which the breakpoint location is accessed); vol. 3A 8.2.4.1 (an interrupted REP string instruction: "the source/destination registers point to the next string element to be operated on, while the EIP stored in the stack points to the string instruction, and the ECX register has the value it held following the last successful iteration"; the return resumes it); 18.2.4 (R/W0 = 01, LEN0 = 00: 1 byte). 16 bytes: below the 64 of fast-string operation's example initial conditions
# paravirt: n/a the debug registers (MOV DR, and its own #DB gate in the IDT): the hypervisor's (Xen's set_debugreg is not in vlab)
# expect:
# | #DB count = 1
# | eip - rep movsb = 0
# | DR6 & 0xe00f = 0x00000001
# | ecx = 10
# | esi - src = 6
# | edi - dst = 6
# | dst[5] = 6
# | dst[6] = 0
# | after the IRET: ecx = 0
# | dst[15] = 16
.include "conf.inc"
main:
    SET_GATE idt, 1, db, 0x8E
    xor eax, eax
    mov dr6, eax
    mov dr1, eax
    mov dr2, eax
    mov dr3, eax
    mov eax, offset dst + 5
    mov dr0, eax
    mov eax, 0x00010001                 # L0; R/W0 = 01 (writes), LEN0 = 00 (1 byte)
    mov dr7, eax
    cld
    mov esi, offset src
    mov edi, offset dst
    mov ecx, 16
1:  rep movsb
    mov ebx, ecx
    xor eax, eax
    mov dr7, eax
    SHOWD "#DB count = ", [db_count]
    mov eax, [db_eip]
    sub eax, offset 1b
    SHOWD "eip - rep movsb = ", eax
    mov eax, [db_dr6]
    and eax, 0xE00F
    SHOW "DR6 & 0xe00f = ", eax
    SHOWD "ecx = ", [db_ecx]
    mov eax, [db_esi]
    sub eax, offset src
    SHOWD "esi - src = ", eax
    mov eax, [db_edi]
    sub eax, offset dst
    SHOWD "edi - dst = ", eax
    movzx eax, byte ptr [db_dst5]
    SHOWD "dst[5] = ", eax
    movzx eax, byte ptr [db_dst6]
    SHOWD "dst[6] = ", eax
    SHOWD "after the IRET: ecx = ", ebx
    movzx eax, byte ptr [dst + 15]
    SHOWD "dst[15] = ", eax
    EXIT 0
db:                                     # the first #DB's state; later ones only counted
    inc dword ptr [db_count]
    cmp dword ptr [db_count], 1
    jne 9f
    push eax
    mov eax, [esp + 4]
    mov [db_eip], eax
    mov eax, dr6
    mov [db_dr6], eax
    mov [db_ecx], ecx
    mov [db_esi], esi
    mov [db_edi], edi
    mov al, [dst + 5]
    mov [db_dst5], al
    mov al, [dst + 6]
    mov [db_dst6], al
    pop eax
9:  iretd
.section .data
.align 16
src: .byte 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
dst: .space 16
db_count: .long 0
db_eip: .long 0
db_dr6: .long 0
db_ecx: .long 0
db_esi: .long 0
db_edi: .long 0
db_dst5: .byte 0
db_dst6: .byte 0
